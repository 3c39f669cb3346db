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
//! meets the same bytes when the slowest sink gets there (or when an ack
//! moves the floor past them).
//!
//! [`Spool::peek_many_for`] hands a sink several consecutive records at
//! once (a sink replaying a backlog merges them into one write): the first
//! comes from wherever [`Spool::peek_for`] finds it, the rest are read on
//! from just after it, and one ack of the last takes them all.
use std::os::unix::fs::FileExt;

use super::*;

/// Where a sink read last: the (last) record it was handed.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AheadPos {
    seg_first: u64,
    offset: u64,
    /// That record's seq. The position serves only a sink wanting this
    /// record or a later one: after a merged peek whose write failed, the
    /// sink wants the first record again, which lies before it.
    seq: u64,
}

/// What [`take_from`] took from one segment.
#[derive(Debug, Default)]
struct Taken {
    /// Offset of the last record taken.
    at: Option<u64>,
    /// Stopped because the next record would not fit.
    full: bool,
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

    /// The oldest records `sink` has not acknowledged, consecutive and in
    /// seq order, left in place: the first always (empty only when nothing
    /// is pending), then the next ones while all their payloads together
    /// stay within `max_bytes`. [`Spool::ack_for`] of the last one takes
    /// them all; without it, the same records come again.
    pub fn peek_many_for(
        &mut self,
        sink: &str,
        max_bytes: usize,
    ) -> Result<Vec<SpoolRecord>, SpoolError> {
        let Some(first) = self.peek_for(sink)? else {
            return Ok(Vec::new());
        };
        let mut room = max_bytes.saturating_sub(first.payload.len());
        let next = match self.after(sink, &first) {
            Some(next) if room > 0 => next,
            _ => return Ok(vec![first]),
        };
        let (mut i, mut from) = next;
        let mut last = first.seq;
        let mut out = vec![first];
        let mut hint = None;
        while i < self.segments.len() {
            let seg = &self.segments[i];
            let taken = take_from(seg, from, &mut last, &mut room, &mut out)?;
            if let Some(offset) = taken.at {
                hint = Some(AheadPos {
                    seg_first: seg.first_seq,
                    offset,
                    seq: last,
                });
            }
            if taken.full {
                break;
            }
            (i, from) = (i + 1, 0);
        }
        if let Some(h) = hint {
            self.ahead.insert(sink.to_string(), h);
        }
        Ok(out)
    }

    /// Segment index and offset just past `rec`, which `peek_for(sink)`
    /// has just returned; `None` when its position is not known.
    fn after(&self, sink: &str, rec: &SpoolRecord) -> Option<(usize, u64)> {
        let len = record::encoded_len(rec.payload.len());
        if let Some(h) = self.ahead.get(sink).filter(|h| h.seq == rec.seq) {
            let i = self
                .segments
                .iter()
                .position(|s| s.first_seq == h.seg_first)?;
            return Some((i, h.offset + len));
        }
        let v = self.reader.verified.filter(|v| v.seq == rec.seq)?;
        Some((0, v.next))
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
                Some(h) if h.seg_first == seg.first_seq && h.seq <= want => h.offset,
                _ => 0,
            };
            if let Some((offset, record)) = read_from(seg, from, cursor)? {
                let pos = AheadPos {
                    seg_first: seg.first_seq,
                    offset,
                    seq: record.seq,
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

/// Takes into `out` the good records of `seg` after `last`, reading on
/// from `from`, while their payloads fit in `room`; moves `last` and
/// `room` along. Damage makes it scan the whole segment.
fn take_from(
    seg: &Segment,
    from: u64,
    last: &mut u64,
    room: &mut usize,
    out: &mut Vec<SpoolRecord>,
) -> Result<Taken, SpoolError> {
    let mut taken = Taken::default();
    if seg.last_seq.is_some_and(|l| l <= *last) {
        return Ok(taken);
    }
    let file = segment::open_read(&seg.path)?;
    let mut offset = from;
    while offset < seg.size {
        if let Some(end) = seg.skip_end(offset) {
            offset = end;
            continue;
        }
        let Some(h) = read_header(&file, seg, offset)? else {
            return take_scanned(seg, last, room, out, taken);
        };
        if h.seq > *last && h.len as usize > *room {
            taken.full = true;
            return Ok(taken);
        }
        let Some(payload) = read_payload(&file, seg, offset, &h)? else {
            return take_scanned(seg, last, room, out, taken);
        };
        if h.seq > *last {
            *room -= payload.len();
            *last = h.seq;
            taken.at = Some(offset);
            out.push(SpoolRecord {
                seq: h.seq,
                payload,
            });
        }
        offset += h.record_len();
    }
    Ok(taken)
}

/// [`take_from`] past damage: the scanner finds the good records.
fn take_scanned(
    seg: &Segment,
    last: &mut u64,
    room: &mut usize,
    out: &mut Vec<SpoolRecord>,
    mut taken: Taken,
) -> Result<Taken, SpoolError> {
    let bytes = segment::read_all(&seg.path)?;
    let scan = scan::scan(&bytes, Some(seg.first_seq));
    let after = *last;
    for pos in scan.records.iter().filter(|r| r.seq > after) {
        let start = (pos.offset + record::HEADER_LEN as u64) as usize;
        let end = (pos.offset + pos.len) as usize;
        let payload = bytes.get(start..end).unwrap_or_default();
        if payload.len() > *room {
            taken.full = true;
            break;
        }
        *room -= payload.len();
        *last = pos.seq;
        taken.at = Some(pos.offset);
        out.push(SpoolRecord {
            seq: pos.seq,
            payload: payload.to_vec(),
        });
    }
    Ok(taken)
}

/// The record at `offset` when it checks out; `None` when it does not.
fn read_one(
    file: &File,
    seg: &Segment,
    offset: u64,
) -> Result<Option<(record::Header, Vec<u8>)>, SpoolError> {
    let Some(h) = read_header(file, seg, offset)? else {
        return Ok(None);
    };
    Ok(read_payload(file, seg, offset, &h)?.map(|p| (h, p)))
}

/// The header at `offset` when it decodes and its record fits in the
/// segment; `None` when not.
fn read_header(
    file: &File,
    seg: &Segment,
    offset: u64,
) -> Result<Option<record::Header>, SpoolError> {
    let available = seg.size.saturating_sub(offset);
    if available < record::HEADER_LEN as u64 {
        return Ok(None);
    }
    let mut header = [0u8; record::HEADER_LEN];
    if !read_exact(file, seg, offset, &mut header)? {
        return Ok(None);
    }
    match record::decode_header(&header) {
        Ok(h) if h.record_len() <= available => Ok(Some(h)),
        _ => Ok(None),
    }
}

/// The payload of the record `h` heads at `offset`, when it checks out.
fn read_payload(
    file: &File,
    seg: &Segment,
    offset: u64,
    h: &record::Header,
) -> Result<Option<Vec<u8>>, SpoolError> {
    let mut payload = vec![0u8; h.len as usize];
    if !read_exact(file, seg, offset + record::HEADER_LEN as u64, &mut payload)? {
        return Ok(None);
    }
    Ok(record::verify(h, &payload).is_ok().then_some(payload))
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

    /// Takes everything `sink` has not acknowledged, `max_bytes` at a
    /// time, acknowledging each merge by its last seq.
    fn drain_many(s: &mut Spool, sink: &str, max_bytes: usize) -> Vec<Vec<u64>> {
        let mut out = Vec::new();
        loop {
            let got = s.peek_many_for(sink, max_bytes).unwrap();
            let Some(last) = got.last().map(|r| r.seq) else {
                return out;
            };
            for r in &got {
                assert_eq!(r.payload, body(r.seq), "payload of seq {}", r.seq);
            }
            s.ack_for(sink, last).unwrap();
            out.push(got.iter().map(|r| r.seq).collect());
        }
    }

    #[test]
    fn many_records_at_once_within_the_budget_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 64);
        for n in 1..=12 {
            s.append(&body(n)).unwrap();
        }
        let len = body(1).len();
        // Three payloads fit; the fourth would not.
        let merges = drain_many(&mut s, "influxdb", 3 * len + len - 1);
        let want: Vec<Vec<u64>> = vec![
            vec![1, 2, 3],
            vec![4, 5, 6],
            vec![7, 8, 9],
            vec![10, 11, 12],
        ];
        assert_eq!(merges, want);
        // A budget smaller than one record still hands out one at a time.
        for want in [1, 2] {
            let got = s.peek_many_for("nats", 1).unwrap();
            assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![want]);
            s.ack_for("nats", want).unwrap();
        }
        assert_eq!(s.stats().records, 10);
        assert_eq!(
            drain_many(&mut s, "nats", 1 << 20),
            vec![(3..=12).collect::<Vec<_>>()]
        );
        assert_eq!(s.stats().records, 0);
        assert_eq!(s.peek_many_for("nats", 1 << 20).unwrap(), vec![]);
    }

    #[test]
    fn an_unacknowledged_merge_is_handed_out_again_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 64);
        for n in 1..=8 {
            s.append(&body(n)).unwrap();
        }
        // nats lags at 0, so influxdb reads ahead of the floor.
        s.ack_for("influxdb", 2).unwrap();
        let seqs = |v: Vec<SpoolRecord>| v.iter().map(|r| r.seq).collect::<Vec<_>>();
        let first = seqs(s.peek_many_for("influxdb", 1 << 20).unwrap());
        assert_eq!(first, vec![3, 4, 5, 6, 7, 8]);
        // The write failed: the same records again, from the first.
        assert_eq!(seqs(s.peek_many_for("influxdb", 1 << 20).unwrap()), first);
        assert_eq!(
            seqs(s.peek_for("influxdb").unwrap().into_iter().collect()),
            vec![3]
        );
        s.ack_for("influxdb", 8).unwrap();
        s.append(&body(9)).unwrap();
        assert_eq!(seqs(s.peek_many_for("influxdb", 1 << 20).unwrap()), vec![9]);
        // The floor sink the same way, through the main reader.
        let all = seqs(s.peek_many_for("nats", 1 << 20).unwrap());
        assert_eq!(all, (1..=9).collect::<Vec<_>>());
        assert_eq!(seqs(s.peek_many_for("nats", 1 << 20).unwrap()), all);
        s.ack_for("nats", 4).unwrap();
        assert_eq!(
            seqs(s.peek_many_for("nats", 1 << 20).unwrap()),
            vec![5, 6, 7, 8, 9]
        );
    }

    #[test]
    fn a_merge_skips_a_damaged_record_without_losing_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open(dir.path(), 1 << 20);
        for n in 1..=6 {
            s.append(&body(n)).unwrap();
        }
        let path = s.segments[0].path.clone();
        let mut bytes = fs::read(&path).unwrap();
        let rec = record::encoded_len(body(1).len()) as usize;
        bytes[3 * rec + record::HEADER_LEN + 1] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        for sink in SINKS {
            assert_eq!(drain_many(&mut s, sink, 1 << 20), vec![vec![1, 2, 3, 5, 6]]);
        }
        assert_eq!(s.stats().records, 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append,
        Take(usize),
        /// Peek up to this many bytes for a sink, acknowledge or not.
        TakeMany(usize, usize, bool),
        Shed,
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Append),
            3 => (0..2usize).prop_map(Op::Take),
            1 => Just(Op::Reopen),
        ]
    }

    fn op_many() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Append),
            4 => (0..2usize, 0..60usize, prop::bool::weighted(0.8))
                .prop_map(|(i, b, ack)| Op::TakeMany(i, b, ack)),
            1 => Just(Op::Shed),
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
                    Op::TakeMany(..) | Op::Shed => unreachable!("not generated here"),
                }
                let slowest = seen.iter().map(Vec::len).min().unwrap_or(0) as u64;
                prop_assert_eq!(s.stats().records, next - 1 - slowest);
            }
            for (i, sink) in SINKS.iter().enumerate() {
                seen[i].extend(drain_for(&mut s, sink));
                prop_assert_eq!(&seen[i], &(1..next).collect::<Vec<_>>());
            }
        }

        /// Two sinks taking merges of any size at their own pace, some
        /// never acknowledged (a failed write), with shedding and reopens
        /// in between: each merge is consecutive (only shed records
        /// between), within its budget, and every record not shed is
        /// acknowledged once, in order.
        #[test]
        fn merges_hand_every_record_once_in_order(ops in prop::collection::vec(op_many(), 1..80)) {
            let dir = tempfile::tempdir().unwrap();
            let mut s = open(dir.path(), 90);
            let mut next = 1u64;
            let mut shed = std::collections::BTreeSet::new();
            let mut acked: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
            let take = |s: &mut Spool, i: usize, budget: usize, ack: bool,
                        acked: &mut [Vec<u64>; 2], shed: &std::collections::BTreeSet<u64>|
             -> Result<(), TestCaseError> {
                let got = s.peek_many_for(SINKS[i], budget).unwrap();
                let mut prev = acked[i].last().copied().unwrap_or(0);
                let total: usize = got.iter().map(|r| r.payload.len()).sum();
                prop_assert!(got.len() <= 1 || total <= budget, "{} bytes over {}", total, budget);
                for r in &got {
                    prop_assert_eq!(&r.payload, &body(r.seq));
                    prop_assert!(r.seq > prev, "seq {} after {}", r.seq, prev);
                    prop_assert!((prev + 1..r.seq).all(|q| shed.contains(&q)),
                        "records between {} and {} skipped", prev, r.seq);
                    prev = r.seq;
                }
                if let (true, Some(last)) = (ack, got.last()) {
                    s.ack_for(SINKS[i], last.seq).unwrap();
                    acked[i].extend(got.iter().map(|r| r.seq));
                }
                Ok(())
            };
            for o in ops {
                match o {
                    Op::Append => {
                        prop_assert_eq!(s.append(&body(next)).unwrap(), next);
                        next += 1;
                    }
                    Op::TakeMany(i, budget, ack) => take(&mut s, i, budget, ack, &mut acked, &shed)?,
                    Op::Shed => {
                        let range = s.segments.front().map(|f| (f.first_seq, f.last_seq));
                        if s.shed_oldest().unwrap().is_some() {
                            if let Some((first, Some(last))) = range {
                                shed.extend(first..=last);
                            }
                        }
                    }
                    Op::Reopen => {
                        drop(s);
                        s = open(dir.path(), 90);
                    }
                    Op::Take(_) => unreachable!("not generated here"),
                }
            }
            for i in 0..SINKS.len() {
                while s.pending_for(SINKS[i]).unwrap() > 0 {
                    let before = acked[i].len();
                    take(&mut s, i, 40, true, &mut acked, &shed)?;
                    if acked[i].len() == before {
                        break;
                    }
                }
                let want: Vec<u64> = (1..next).filter(|q| !shed.contains(q) || acked[i].contains(q)).collect();
                prop_assert_eq!(&acked[i], &want);
            }
        }
    }
}
