//! Spool-level tests: crash recovery, the bound, the lock, and a proptest
//! against a `VecDeque` model.
use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn opts(max_bytes: u64, segment_bytes: u64) -> SpoolOptions {
    SpoolOptions {
        max_bytes,
        segment_bytes,
    }
}

fn payload(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (n as usize * 31 + i) as u8).collect()
}

/// Peeks and acks until empty.
fn drain(s: &mut Spool) -> Vec<SpoolRecord> {
    let mut out = Vec::new();
    while let Some(r) = s.peek().unwrap() {
        s.ack(r.seq).unwrap();
        out.push(r);
    }
    out
}

fn seqs(records: &[SpoolRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn append_peek_ack_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(s.peek().unwrap(), None);
    let a = s.append(b"first").unwrap();
    let b = s.append(b"").unwrap();
    let c = s.append(b"third").unwrap();
    assert_eq!((a, b, c), (1, 2, 3));
    assert_eq!(s.stats().records, 3);
    let r = s.peek().unwrap().unwrap();
    assert_eq!(r, s.peek().unwrap().unwrap(), "peek does not consume");
    assert_eq!((r.seq, r.payload.as_slice()), (1, &b"first"[..]));
    s.ack(1).unwrap();
    let rest = drain(&mut s);
    assert_eq!(seqs(&rest), [2, 3]);
    assert_eq!(rest[0].payload, b"");
    assert_eq!(rest[1].payload, b"third");
    let st = s.stats();
    assert_eq!(
        (st.records, st.bytes, st.segments, st.acked_seq, st.last_seq),
        (0, 0, 0, 3, 3)
    );
}

#[test]
fn seqs_never_reused_after_restart_even_when_all_acked() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    for _ in 0..3 {
        s.append(b"x").unwrap();
    }
    s.ack(3).unwrap();
    assert!(
        segment_files(dir.path()).is_empty(),
        "fully acked segments are deleted"
    );
    drop(s);
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(s.peek().unwrap(), None);
    assert_eq!(s.append(b"y").unwrap(), 4);
}

#[test]
fn ack_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(1 << 20, 100)).unwrap();
    for i in 1..=8 {
        s.append(&payload(i, 30)).unwrap();
    }
    let r = s.peek().unwrap().unwrap();
    s.ack(r.seq).unwrap();
    s.ack(5).unwrap();
    drop(s); // no close: every step above is already durable
    let mut s = Spool::open_with(dir.path(), opts(1 << 20, 100)).unwrap();
    assert_eq!(s.stats().records, 3);
    let rest = drain(&mut s);
    assert_eq!(seqs(&rest), [6, 7, 8]);
    assert_eq!(rest[0].payload, payload(6, 30));
}

#[test]
fn ack_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    let err = s.ack(1).unwrap_err();
    assert!(
        matches!(
            err,
            SpoolError::AckBeyondLast {
                seq: 1,
                last: 0,
                ..
            }
        ),
        "{err}"
    );
    s.append(b"a").unwrap();
    s.append(b"b").unwrap();
    assert!(s.ack(3).is_err());
    s.ack(2).unwrap();
    s.ack(1).unwrap(); // older: no-op
    s.ack(0).unwrap();
    assert_eq!(s.peek().unwrap(), None);
    assert_eq!(s.stats().acked_seq, 2);
}

#[test]
fn acked_segments_are_deleted_others_kept() {
    let dir = tempfile::tempdir().unwrap();
    // 50-byte records, two per segment.
    let mut s = Spool::open_with(dir.path(), opts(1 << 20, 100)).unwrap();
    for i in 1..=6 {
        s.append(&payload(i, 30)).unwrap();
    }
    assert_eq!(segment_files(dir.path()).len(), 3);
    s.ack(3).unwrap();
    let names: Vec<u64> = segment::list(dir.path())
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(names, [3, 5], "segment 1..2 gone; 3..4 still holds 4");
    let st = s.stats();
    assert_eq!((st.records, st.bytes, st.segments), (3, 200, 2));
    assert_eq!(s.peek().unwrap().unwrap().seq, 4);
}

#[test]
fn max_bytes_drops_oldest_whole_segments_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    // 100-byte records, two per 200-byte segment, at most 1000 bytes.
    let mut s = Spool::open_with(dir.path(), opts(1000, 200)).unwrap();
    for i in 1..=25 {
        assert_eq!(s.append(&payload(i, 80)).unwrap(), i);
        assert!(s.stats().bytes <= 1000);
    }
    // Whole segments go: seq 25 opened a new segment and evicted 15 and 16.
    let st = s.stats();
    assert_eq!(st.bytes, 900);
    assert_eq!(st.records, 9);
    assert_eq!(st.dropped_records, 16);
    assert_eq!(st.dropped_bytes, 1600);
    let rest = drain(&mut s);
    assert_eq!(
        seqs(&rest),
        (17..=25).collect::<Vec<_>>(),
        "the newest are kept"
    );
    assert_eq!(rest[8].payload, payload(25, 80));
}

#[test]
fn drop_counts_only_unacked_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(400, 200)).unwrap();
    for i in 1..=4 {
        s.append(&payload(i, 80)).unwrap();
    }
    s.ack(1).unwrap();
    s.append(&payload(5, 80)).unwrap();
    let st = s.stats();
    assert_eq!(
        (st.dropped_records, st.dropped_bytes),
        (1, 100),
        "seq 1 was acked"
    );
    assert_eq!(seqs(&drain(&mut s)), [3, 4, 5]);
}

#[test]
fn a_record_larger_than_a_segment_gets_its_own_and_can_evict_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(1000, 200)).unwrap();
    for i in 1..=4 {
        s.append(&payload(i, 80)).unwrap();
    }
    assert_eq!(s.append(&payload(5, 980)).unwrap(), 5);
    assert_eq!(s.stats().dropped_records, 4);
    assert_eq!(s.append(&payload(6, 10)).unwrap(), 6);
    assert_eq!(s.stats().dropped_records, 5);
    drop(s);
    let mut s = Spool::open_with(dir.path(), opts(1000, 200)).unwrap();
    assert_eq!(seqs(&drain(&mut s)), [6]);
    assert_eq!(s.append(b"z").unwrap(), 7);
}

#[test]
fn dropping_the_only_segment_keeps_seqs_monotonic_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(300, 1000)).unwrap();
    for i in 1..=5 {
        s.append(&payload(i, 80)).unwrap();
    }
    assert_eq!(s.stats().dropped_records, 3);
    drop(s);
    let mut s = Spool::open_with(dir.path(), opts(300, 1000)).unwrap();
    assert_eq!(seqs(&drain(&mut s)), [4, 5]);
    assert_eq!(s.append(b"next").unwrap(), 6);
}

#[test]
fn reopening_with_a_smaller_bound_shrinks_on_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(10_000, 200)).unwrap();
    for i in 1..=20 {
        s.append(&payload(i, 80)).unwrap();
    }
    drop(s);
    let mut s = Spool::open_with(dir.path(), opts(600, 200)).unwrap();
    assert_eq!(s.stats().bytes, 2000, "nothing is dropped just by opening");
    s.append(&payload(21, 80)).unwrap();
    let st = s.stats();
    assert_eq!((st.bytes, st.dropped_records), (500, 16));
    assert_eq!(seqs(&drain(&mut s)), [17, 18, 19, 20, 21]);
}

#[test]
fn payload_larger_than_max_bytes_is_an_error_not_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1000).unwrap();
    s.append(b"keep me").unwrap();
    let err = s.append(&[0u8; 1000]).unwrap_err();
    assert!(
        matches!(
            err,
            SpoolError::TooLarge {
                len: 1000,
                record: 1020,
                max_bytes: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("1000"), "{err}");
    assert_eq!(s.stats().dropped_records, 0);
    assert_eq!(s.append(&[0u8; 980]).unwrap(), 2, "exactly max_bytes fits");
    assert!(
        Spool::open(&dir.path().join("other"), 10).is_err(),
        "max_bytes below one record"
    );
}

#[test]
fn second_open_fails_naming_lock_and_pid() {
    let dir = tempfile::tempdir().unwrap();
    let s = Spool::open(dir.path(), 1 << 20).unwrap();
    let err = Spool::open(dir.path(), 1 << 20).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("spool.lock"), "{msg}");
    assert!(msg.contains(&std::process::id().to_string()), "{msg}");
    drop(s);
    Spool::open(dir.path(), 1 << 20).unwrap();
}

#[test]
fn stale_lock_of_a_dead_process_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("spool.lock"), "4000000000\n").unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    s.append(b"ok").unwrap();
}

/// Three records in a first segment, three in a second; returns both
/// segments' paths and record offsets.
fn two_segments(dir: &Path) -> Vec<(PathBuf, Vec<u64>)> {
    let mut s = Spool::open_with(dir, opts(1 << 20, 3 * 50)).unwrap();
    for i in 1..=6 {
        s.append(&payload(i, 30)).unwrap();
    }
    drop(s);
    segment_files(dir)
        .into_iter()
        .map(|p| {
            let offsets = scan::scan(&fs::read(&p).unwrap(), None)
                .records
                .iter()
                .map(|r| r.offset)
                .collect();
            (p, offsets)
        })
        .collect()
}

#[test]
fn torn_tail_at_every_offset_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segments(dir.path());
    assert_eq!(segs.len(), 2);
    let (last, offsets) = &segs[1];
    let original = fs::read(last).unwrap();
    let pristine: Vec<(PathBuf, Vec<u8>)> = segment_files(dir.path())
        .into_iter()
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    for cut in 0..original.len() {
        // Restore, then tear.
        for f in segment_files(dir.path()) {
            fs::remove_file(f).unwrap();
        }
        for (p, b) in &pristine {
            fs::write(p, b).unwrap();
        }
        fs::write(last, &original[..cut]).unwrap();
        let whole = offsets.iter().filter(|&&o| o + 50 <= cut as u64).count() as u64;
        let mut s = Spool::open_with(dir.path(), opts(1 << 20, 150)).unwrap();
        let st = s.stats();
        assert_eq!(st.corrupt_records, 0, "cut {cut}");
        assert_eq!(st.truncated_bytes, cut as u64 - whole * 50, "cut {cut}");
        assert_eq!(st.records, 3 + whole, "cut {cut}");
        let next = s.append(b"after").unwrap();
        assert_eq!(
            next,
            4 + whole,
            "cut {cut}: the torn record's seq is handed out again"
        );
        drop(s);
        let mut s = Spool::open_with(dir.path(), opts(1 << 20, 150)).unwrap();
        let got = drain(&mut s);
        let expect: Vec<u64> = (1..=3 + whole).chain([next]).collect();
        assert_eq!(seqs(&got), expect, "cut {cut}");
        assert_eq!(got.last().unwrap().payload, b"after");
        assert_eq!(
            s.stats().truncated_bytes,
            0,
            "cut {cut}: nothing torn the second time"
        );
        drop(s);
        fs::remove_file(dir.path().join(ack::FILE)).unwrap();
    }
}

#[test]
fn one_flipped_byte_anywhere_loses_only_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segments(dir.path());
    let pristine: Vec<Vec<u8>> = segs.iter().map(|(p, _)| fs::read(p).unwrap()).collect();
    for (si, (path, offsets)) in segs.iter().enumerate() {
        for at in 0..pristine[si].len() {
            for (p, b) in segs.iter().map(|(p, _)| p).zip(&pristine) {
                fs::write(p, b).unwrap();
            }
            let _ = fs::remove_file(dir.path().join(ack::FILE));
            let mut bytes = pristine[si].clone();
            bytes[at] ^= 0x5A;
            fs::write(path, &bytes).unwrap();
            let hit =
                si as u64 * 3 + offsets.iter().rposition(|&o| o as usize <= at).unwrap() as u64 + 1;
            let mut s = Spool::open_with(dir.path(), opts(1 << 20, 150)).unwrap();
            let got = drain(&mut s);
            let expect: Vec<u64> = (1..=6).filter(|&q| q != hit).collect();
            assert_eq!(seqs(&got), expect, "segment {si} byte {at}");
            for r in &got {
                assert_eq!(r.payload, payload(r.seq, 30));
            }
            let st = s.stats();
            // Damage at the very end of the newest segment is a torn tail.
            let torn = hit == 6;
            assert_eq!(
                st.corrupt_records,
                u64::from(!torn),
                "segment {si} byte {at}"
            );
            assert_eq!(st.truncated_bytes > 0, torn, "segment {si} byte {at}");
        }
    }
}

#[test]
fn damage_found_after_open_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open_with(dir.path(), opts(1 << 20, 1 << 10)).unwrap();
    for i in 1..=4 {
        s.append(&payload(i, 30)).unwrap();
    }
    let path = segment_files(dir.path()).remove(0);
    let mut bytes = fs::read(&path).unwrap();
    bytes[50 + 25] ^= 1; // record 2's payload
    fs::write(&path, &bytes).unwrap();
    assert_eq!(s.peek().unwrap().unwrap().seq, 1);
    s.ack(1).unwrap();
    assert_eq!(s.peek().unwrap().unwrap().seq, 3);
    assert_eq!(s.stats().corrupt_records, 1);
    assert_eq!(s.stats().records, 2);
    assert_eq!(seqs(&drain(&mut s)), [3, 4]);
    assert_eq!(s.append(b"more").unwrap(), 5);
    assert_eq!(seqs(&drain(&mut s)), [5]);
}

#[test]
fn damaged_tail_of_an_older_segment_is_skipped_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let segs = two_segments(dir.path());
    let (first, offsets) = &segs[0];
    let len = fs::read(first).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(first)
        .unwrap()
        .set_len(offsets[1] + 7)
        .unwrap();
    let mut s = Spool::open_with(dir.path(), opts(1 << 20, 150)).unwrap();
    assert_eq!(
        s.stats().corrupt_records,
        2,
        "seqs 2 and 3 lost, by the gap to the next segment"
    );
    assert_eq!(seqs(&drain(&mut s)), [1, 4, 5, 6]);
    assert!(len > 0);
}

#[test]
fn unreadable_ack_file_means_redelivery_not_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    for i in 1..=3 {
        s.append(&payload(i, 10)).unwrap();
    }
    s.ack(1).unwrap();
    drop(s);
    fs::write(dir.path().join(ack::FILE), b"garbage").unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(seqs(&drain(&mut s)), [1, 2, 3]);
    assert_eq!(s.append(b"x").unwrap(), 4);
}

#[test]
fn leftover_files_from_a_crash_are_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    s.append(b"a").unwrap();
    drop(s);
    fs::write(dir.path().join("ack.tmp"), b"half-written").unwrap();
    // A segment created just before a crash, nothing written into it yet.
    fs::write(dir.path().join(segment::file_name(2)), b"").unwrap();
    let mut s = Spool::open(dir.path(), 1 << 20).unwrap();
    assert!(!dir.path().join("ack.tmp").exists());
    assert_eq!(seqs(&drain(&mut s)), [1]);
    assert_eq!(s.append(b"b").unwrap(), 2);
}

/// Model-based test: what goes in comes out, in order, once acked never
/// again, minus what the bound drops (oldest first, counted) and what a
/// torn tail takes.
#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Peek,
    AckPeeked,
    AckUpTo(prop::sample::Index),
    Crash,
    CrashTearingTail(prop::sample::Index),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..150).prop_map(Op::Append),
        3 => Just(Op::Peek),
        2 => Just(Op::AckPeeked),
        1 => any::<prop::sample::Index>().prop_map(Op::AckUpTo),
        1 => Just(Op::Crash),
        1 => any::<prop::sample::Index>().prop_map(Op::CrashTearingTail),
    ]
}

const MODEL_OPTS: SpoolOptions = SpoolOptions {
    max_bytes: 700,
    segment_bytes: 180,
};

fn check_against_model(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Some(Spool::open_with(dir.path(), MODEL_OPTS).unwrap());
    let mut model: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
    let mut peeked: Option<u64> = None;
    let mut acked_hi = 0u64;
    let mut dropped_seen = 0u64;
    let mut n = 0u64;
    for op in ops {
        let s = spool.as_mut().unwrap();
        match op {
            Op::Append(len) => {
                n += 1;
                let p = payload(n, len);
                let seq = s.append(&p).unwrap();
                prop_assert!(seq > acked_hi);
                prop_assert!(model.back().is_none_or(|(last, _)| seq > *last));
                let st = s.stats();
                for _ in dropped_seen..st.dropped_records {
                    let gone = model.pop_front();
                    prop_assert!(gone.is_some(), "dropped more than was spooled");
                }
                dropped_seen = st.dropped_records;
                model.push_back((seq, p));
                prop_assert!(st.bytes <= MODEL_OPTS.max_bytes);
            }
            Op::Peek => {
                let r = s.peek().unwrap();
                prop_assert_eq!(
                    r.as_ref().map(|r| (r.seq, &r.payload)),
                    model.front().map(|(q, p)| (*q, p))
                );
                if let Some(r) = &r {
                    prop_assert!(r.seq > acked_hi, "acked seq {} delivered again", r.seq);
                }
                peeked = r.map(|r| r.seq);
            }
            Op::AckPeeked => {
                if let Some(seq) = peeked.take() {
                    s.ack(seq).unwrap();
                    acked_hi = acked_hi.max(seq);
                    model.retain(|(q, _)| *q > seq);
                }
            }
            Op::AckUpTo(i) => {
                if !model.is_empty() {
                    let seq = model[i.index(model.len())].0;
                    s.ack(seq).unwrap();
                    acked_hi = acked_hi.max(seq);
                    model.retain(|(q, _)| *q > seq);
                }
            }
            Op::Crash | Op::CrashTearingTail(_) => {
                drop(spool.take());
                if let Op::CrashTearingTail(at) = op {
                    if let Some(last) = segment_files(dir.path()).pop() {
                        let bytes = fs::read(&last).unwrap();
                        let cut = at.index(bytes.len() + 1);
                        fs::write(&last, &bytes[..cut]).unwrap();
                        let kept: Vec<u64> = seqs(&decode_segment(&bytes[..cut]).records);
                        let lost: Vec<u64> = seqs(&decode_segment(&bytes).records)
                            .into_iter()
                            .filter(|q| !kept.contains(q))
                            .collect();
                        model.retain(|(q, _)| !lost.contains(q));
                    }
                }
                peeked = None;
                dropped_seen = 0;
                spool = Some(Spool::open_with(dir.path(), MODEL_OPTS).unwrap());
            }
        }
        let st = spool.as_ref().unwrap().stats();
        prop_assert_eq!(st.records, model.len() as u64, "unacked count");
        prop_assert_eq!(st.corrupt_records, 0);
    }
    // Everything still owed comes out, in order.
    let s = spool.as_mut().unwrap();
    let rest = drain(s);
    let got: Vec<(u64, Vec<u8>)> = rest.into_iter().map(|r| (r.seq, r.payload)).collect();
    let want: Vec<(u64, Vec<u8>)> = model.into_iter().collect();
    prop_assert_eq!(got, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn spool_matches_vecdeque_model(ops in proptest::collection::vec(op(), 1..80)) {
        check_against_model(ops)?;
    }
}
