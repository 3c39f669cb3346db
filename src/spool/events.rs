//! The spool's notable events: each logs one line and bumps its counter,
//! so the log and `/metrics` always agree.
use std::path::Path;

use super::record::RecordError;
use super::SpoolStats;

/// Oldest segments deleted to stay within `max_bytes`: one call per append
/// that had to make room, however many records went.
pub fn dropped(
    dir: &Path,
    segments: u64,
    records: u64,
    bytes: u64,
    seqs: Option<(u64, u64)>,
    max_bytes: u64,
) {
    metrics::counter!("plantgw_spool_dropped_records_total").increment(records);
    metrics::counter!("plantgw_spool_dropped_bytes_total").increment(bytes);
    let (first_seq, last_seq) = seqs.unwrap_or_default();
    tracing::warn!(
        dir = %dir.display(),
        segments,
        records,
        bytes,
        first_seq,
        last_seq,
        max_bytes,
        "spool full: dropped the oldest undelivered data"
    );
}

/// The oldest segment deleted because the disk is full. Counted in the
/// same counters as a `max_bytes` drop; the warning is the caller's, once
/// per episode, since a full disk sheds segment after segment.
pub fn shed(dir: &Path, records: u64, bytes: u64, seqs: Option<(u64, u64)>) {
    metrics::counter!("plantgw_spool_dropped_records_total").increment(records);
    metrics::counter!("plantgw_spool_dropped_bytes_total").increment(bytes);
    let (first_seq, last_seq) = seqs.unwrap_or_default();
    tracing::debug!(
        dir = %dir.display(),
        records,
        bytes,
        first_seq,
        last_seq,
        "disk full: dropped the oldest spooled segment"
    );
}

/// Unreadable records skipped in the middle of a segment.
pub fn corrupt(path: &Path, offset: u64, len: u64, lost: u64, reason: &RecordError) {
    metrics::counter!("plantgw_spool_corrupt_records_total").increment(lost);
    tracing::warn!(
        file = %path.display(),
        offset,
        len,
        records = lost,
        %reason,
        "corrupt spool records skipped"
    );
}

/// A torn write at the end of the newest segment, cut off so new records go
/// after good data.
pub fn torn_tail(path: &Path, offset: u64, len: u64, reason: &RecordError) {
    metrics::counter!("plantgw_spool_truncated_bytes_total").increment(len);
    tracing::warn!(
        file = %path.display(),
        offset,
        bytes = len,
        %reason,
        "torn record at the end of the spool truncated"
    );
}

pub fn ack_file_unreadable(path: &Path, reason: &str) {
    tracing::warn!(
        file = %path.display(),
        %reason,
        "spool ack file unreadable: everything still spooled will be delivered again"
    );
}

pub fn gauges(stats: &SpoolStats) {
    metrics::gauge!("plantgw_spool_bytes").set(stats.bytes as f64);
    metrics::gauge!("plantgw_spool_records").set(stats.records as f64);
}
