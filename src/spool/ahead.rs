//! Reading for a sink that is ahead of the slowest one.
//!
//! The main reader ([`super::read`]) serves the oldest unacknowledged
//! record, which is where the slowest sink's cursor stands; it is the one
//! that deletes segments and counts damage. A sink whose cursor is further
//! on (InfluxDB current while NATS is down, or the other way round) reads
//! here instead: from its own position, remembered per sink, so a lagging
//! sink never holds back the delivery of newer data to the others.
//!
//! This reader only reads. Damage it meets is skipped by scanning the
//! segment; counting and reporting it is left to the main reader, which
//! meets the same bytes when the slowest sink gets there.
use std::os::unix::fs::FileExt;

use super::*;

/// Where a sink ahead of the floor read last: the record it was handed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AheadPos {
    seg_first: u64,
    offset: u64,
}

impl Spool {
    /// The oldest record `sink` has not acknowledged, left in place.
    pub fn peek_for(&mut self, sink: &str) -> Result<Option<SpoolRecord>, SpoolError> {
        let cursor = self.cursor_of(sink)?;
        if cursor <= self.acked {
            return self.peek();
        }
        self.peek_ahead(sink, cursor)
    }

    /// Acknowledges for `sink` every record up to and including `seq`.
    /// Segments are deleted once every sink has passed them.
    pub fn ack_for(&mut self, sink: &str, seq: u64) -> Result<(), SpoolError> {
        let cursor = self.cursor_of(sink)?;
        if seq <= cursor {
            return Ok(());
        }
        let last = self.next_seq - 1;
        if seq > last {
            return Err(SpoolError::AckBeyondLast {
                dir: self.dir.clone(),
                seq,
                last,
            });
        }
        self.cursors.advance(sink, seq)?;
        let floor = self.cursors.floor();
        if floor > self.acked {
            self.acked = floor;
            self.seek_unacked(false)
                .inspect_err(|_| self.forget_reader_file())?;
        }
        events::gauges(&self.stats());
        Ok(())
    }

    /// Records `sink` has still to take (its cursor to the newest seq).
    pub fn pending_for(&self, sink: &str) -> Result<u64, SpoolError> {
        let cursor = self.cursor_of(sink)?;
        Ok((self.next_seq - 1).saturating_sub(cursor))
    }

    fn cursor_of(&self, sink: &str) -> Result<u64, SpoolError> {
        self.cursors
            .acked(sink)
            .ok_or_else(|| SpoolError::UnknownSink {
                dir: self.dir.clone(),
                name: sink.to_string(),
            })
    }

    fn peek_ahead(&mut self, sink: &str, cursor: u64) -> Result<Option<SpoolRecord>, SpoolError> {
        let want = cursor.saturating_add(1);
        // The segment that holds `want`: the last one starting at or before
        // it (segments are in seq order; shed ones leave a gap).
        let start = self
            .segments
            .iter()
            .rposition(|s| s.first_seq <= want)
            .unwrap_or(0);
        let hint = self.ahead.get(sink).copied();
        for i in start..self.segments.len() {
            let seg = &self.segments[i];
            let from = match hint {
                Some(h) if h.seg_first == seg.first_seq => h.offset,
                _ => 0,
            };
            if let Some((offset, record)) = read_from(seg, from, cursor)? {
                let pos = AheadPos {
                    seg_first: seg.first_seq,
                    offset,
                };
                self.ahead.insert(sink.to_string(), pos);
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

/// The first good record after `cursor` in `seg`, reading on from `from`;
/// with its offset. Damage makes it scan the whole segment.
fn read_from(
    seg: &Segment,
    from: u64,
    cursor: u64,
) -> Result<Option<(u64, SpoolRecord)>, SpoolError> {
    if seg.last_seq.is_some_and(|last| last <= cursor) {
        return Ok(None);
    }
    let file = segment::open_read(&seg.path)?;
    let mut offset = from;
    while offset < seg.size {
        if let Some(end) = seg.skip_end(offset) {
            offset = end;
            continue;
        }
        match read_one(&file, seg, offset)? {
            Some((h, payload)) if h.seq > cursor => {
                return Ok(Some((
                    offset,
                    SpoolRecord {
                        seq: h.seq,
                        payload,
                    },
                )));
            }
            Some((h, _)) => offset += h.record_len(),
            None => return scan_for(seg, cursor),
        }
    }
    Ok(None)
}

/// The record at `offset` when it checks out; `None` when it does not.
fn read_one(
    file: &File,
    seg: &Segment,
    offset: u64,
) -> Result<Option<(record::Header, Vec<u8>)>, SpoolError> {
    let available = seg.size.saturating_sub(offset);
    if available < record::HEADER_LEN as u64 {
        return Ok(None);
    }
    let mut header = [0u8; record::HEADER_LEN];
    if !read_exact(file, seg, offset, &mut header)? {
        return Ok(None);
    }
    let Ok(h) = record::decode_header(&header) else {
        return Ok(None);
    };
    if h.record_len() > available {
        return Ok(None);
    }
    let mut payload = vec![0u8; h.len as usize];
    if !read_exact(file, seg, offset + record::HEADER_LEN as u64, &mut payload)? {
        return Ok(None);
    }
    if record::verify(&h, &payload).is_err() {
        return Ok(None);
    }
    Ok(Some((h, payload)))
}

/// False when the file is shorter than the segment was: damage, not I/O.
fn read_exact(file: &File, seg: &Segment, offset: u64, buf: &mut [u8]) -> Result<bool, SpoolError> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(SpoolError::io("read spool segment", &seg.path, e)),
    }
}

/// Damage on the way: the scanner finds the good records around it.
fn scan_for(seg: &Segment, cursor: u64) -> Result<Option<(u64, SpoolRecord)>, SpoolError> {
    let bytes = segment::read_all(&seg.path)?;
    let scan = scan::scan(&bytes, Some(seg.first_seq));
    let Some(pos) = scan.records.iter().find(|r| r.seq > cursor) else {
        return Ok(None);
    };
    let start = (pos.offset + record::HEADER_LEN as u64) as usize;
    let end = (pos.offset + pos.len) as usize;
    let payload = bytes.get(start..end).unwrap_or_default().to_vec();
    Ok(Some((
        pos.offset,
        SpoolRecord {
            seq: pos.seq,
            payload,
        },
    )))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SINKS: [&str; 2] = [cursor::DEFAULT_SINK, "nats"];

    fn open(dir: &Path, segment_bytes: u64) -> Spool {
        let opts = SpoolOptions {
            max_bytes: 1 << 20,
            segment_bytes,
        };
        Spool::open_for(dir, opts, &SINKS).unwrap()
    }

    fn body(n: u64) -> Vec<u8> {
        format!("m v={n}i {n}\n").into_bytes()
    }

    /// Takes everything `sink` has not acknowledged, in order.
    fn drain_for(s: &mut Spool, sink: &str) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(r) = s.peek_for(sink).unwrap() {
            assert_eq!(r.payload, body(r.seq), "payload of seq {}", r.seq);
            s.ack_for(sink, r.seq).unwrap();
            out.push(r.seq);
        }
        out
    }

    #[test]
    fn a_sink_ahead_reads_on_while_the_other_lags_and_segments_wait_for_both() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 64);
        for n in 1..=10 {
            assert_eq!(s.append(&body(n)).unwrap(), n);
        }
        assert_eq!(drain_for(&mut s, "influxdb"), (1..=10).collect::<Vec<_>>());
        assert_eq!(s.pending_for("influxdb").unwrap(), 0);
        assert_eq!(s.pending_for("nats").unwrap(), 10);
        // Nothing deleted: nats has not taken a record yet.
        assert_eq!(s.stats().records, 10);
        let segments = s.stats().segments;
        assert!(segments > 2, "{segments} segments");

        // New data reaches the sink that is current, past the lagging one.
        s.append(&body(11)).unwrap();
        assert_eq!(s.peek_for("influxdb").unwrap().unwrap().seq, 11);
        s.ack_for("influxdb", 11).unwrap();

        assert_eq!(drain_for(&mut s, "nats")[..3], [1, 2, 3]);
        assert_eq!(s.stats().records, 0);
        assert_eq!(s.stats().segments, 0);
    }

    #[test]
    fn each_cursor_survives_a_reopen_and_seqs_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open(dir.path(), 64);
            for n in 1..=6 {
                s.append(&body(n)).unwrap();
            }
            s.ack_for("influxdb", 6).unwrap();
            s.ack_for("nats", 2).unwrap();
        }
        let mut s = open(dir.path(), 64);
        assert_eq!(s.peek_for("influxdb").unwrap(), None);
        assert_eq!(drain_for(&mut s, "nats"), vec![3, 4, 5, 6]);
        assert_eq!(s.append(&body(7)).unwrap(), 7);
        // Opened for one sink only, the spool follows that sink's cursor.
        drop(s);
        let mut only = Spool::open_for(
            dir.path(),
            SpoolOptions {
                max_bytes: 1 << 20,
                segment_bytes: 64,
            },
            &["nats"],
        )
        .unwrap();
        assert_eq!(drain_for(&mut only, "nats"), vec![7]);
        assert!(matches!(
            only.ack(7),
            Err(SpoolError::UnknownSink { ref name, .. }) if name == "influxdb"
        ));
    }

    #[test]
    fn a_sink_ahead_skips_a_damaged_record_without_losing_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 1 << 20);
        for n in 1..=5 {
            s.append(&body(n)).unwrap();
        }
        s.ack_for("influxdb", 1).unwrap();
        // Garble record 3's payload on disk after it was written.
        let path = s.segments[0].path.clone();
        let mut bytes = fs::read(&path).unwrap();
        let rec = record::encoded_len(body(1).len()) as usize;
        bytes[2 * rec + record::HEADER_LEN + 1] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert_eq!(drain_for(&mut s, "influxdb"), vec![2, 4, 5]);
        assert_eq!(s.peek_for("nats").unwrap().unwrap().seq, 1);
    }

    #[test]
    fn a_cursor_cannot_pass_the_newest_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 64);
        s.append(&body(1)).unwrap();
        assert!(matches!(
            s.ack_for("nats", 2),
            Err(SpoolError::AckBeyondLast {
                seq: 2,
                last: 1,
                ..
            })
        ));
        assert!(matches!(
            s.peek_for("kafka"),
            Err(SpoolError::UnknownSink { .. })
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append,
        Take(usize),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Append),
            3 => (0..2usize).prop_map(Op::Take),
            1 => Just(Op::Reopen),
        ]
    }

    proptest! {
        /// Two sinks taking records at their own pace, with reopens in
        /// between: each sees every record once, in order, and a record is
        /// gone from disk only when both have it.
        #[test]
        fn every_sink_sees_every_record_once_in_order(ops in prop::collection::vec(op(), 1..80)) {
            let dir = tempfile::tempdir().unwrap();
            let mut s = open(dir.path(), 90);
            let mut next = 1u64;
            let mut seen: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
            for o in ops {
                match o {
                    Op::Append => {
                        prop_assert_eq!(s.append(&body(next)).unwrap(), next);
                        next += 1;
                    }
                    Op::Take(i) => {
                        if let Some(r) = s.peek_for(SINKS[i]).unwrap() {
                            prop_assert_eq!(&r.payload, &body(r.seq));
                            s.ack_for(SINKS[i], r.seq).unwrap();
                            seen[i].push(r.seq);
                        }
                    }
                    Op::Reopen => {
                        drop(s);
                        s = open(dir.path(), 90);
                    }
                }
                let slowest = seen.iter().map(Vec::len).min().unwrap_or(0) as u64;
                prop_assert_eq!(s.stats().records, next - 1 - slowest);
            }
            for (i, sink) in SINKS.iter().enumerate() {
                seen[i].extend(drain_for(&mut s, sink));
                prop_assert_eq!(&seen[i], &(1..next).collect::<Vec<_>>());
            }
        }
    }
}
