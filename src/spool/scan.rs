//! Reading a whole segment's bytes into records, resynchronising past
//! damage. Pure: no I/O, never panics, whatever the input.
use super::record::{self, RecordError};
use super::SpoolRecord;

/// Where a good record lies in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordPos {
    pub offset: u64,
    pub seq: u64,
    /// Header plus payload.
    pub len: u64,
}

/// A damaged stretch between good records, skipped over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    pub offset: u64,
    pub len: u64,
    /// What was wrong with the record expected at `offset`.
    pub reason: RecordError,
    /// Records lost in the stretch: the gap in seq between the good records
    /// around it (seqs within a segment are consecutive), at least one.
    pub lost: u64,
}

/// Where good data ends: nothing from `offset` to the end of the segment
/// could be read as a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStop {
    pub offset: u64,
    pub reason: RecordError,
}

/// Result of [`scan`]: positions only, so that scanning a large segment does
/// not copy its payloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentScan {
    pub records: Vec<RecordPos>,
    pub skipped: Vec<Skipped>,
    pub stop: Option<DecodeStop>,
}

/// Result of [`decode_segment`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedSegment {
    pub records: Vec<SpoolRecord>,
    pub skipped: Vec<Skipped>,
    pub stop: Option<DecodeStop>,
}

/// Decodes every good record in a segment's bytes, in order, skipping
/// damaged stretches when a good record follows them, and reports where good
/// data ends. Never panics.
pub fn decode_segment(bytes: &[u8]) -> DecodedSegment {
    let s = scan(bytes, None);
    let records = s
        .records
        .iter()
        .filter_map(|p| {
            let start = usize::try_from(p.offset).ok()?;
            let d = record::decode(bytes.get(start..)?).ok()?;
            Some(SpoolRecord {
                seq: d.seq,
                payload: d.payload.to_vec(),
            })
        })
        .collect();
    DecodedSegment {
        records,
        skipped: s.skipped,
        stop: s.stop,
    }
}

/// A good record at `at` whose seq is at least `min`.
fn good_at(bytes: &[u8], at: usize, min: u64) -> Result<RecordPos, RecordError> {
    let d = record::decode(bytes.get(at..).unwrap_or_default())?;
    if d.seq < min {
        return Err(RecordError::OutOfOrder { seq: d.seq, min });
    }
    Ok(RecordPos {
        offset: at as u64,
        seq: d.seq,
        len: d.len,
    })
}

/// Scans a segment. `first_seq` is the seq its name promises: records below
/// it are out of order, and a damaged start can be measured against it.
///
/// Damage is skipped only when a good record with a higher seq follows
/// (found by searching for the magic and checking the whole record, CRC
/// included); otherwise the scan stops there, which is how a torn tail
/// looks.
pub fn scan(bytes: &[u8], first_seq: Option<u64>) -> SegmentScan {
    let mut out = SegmentScan::default();
    let mut at = 0usize;
    // Lowest acceptable seq for the next record.
    let mut min = first_seq.unwrap_or(0);
    let mut known_prev = first_seq.is_some();
    while at < bytes.len() {
        match good_at(bytes, at, min) {
            Ok(pos) => {
                out.records.push(pos);
                min = pos.seq.saturating_add(1);
                known_prev = true;
                // A record is never longer than the slice it was decoded from.
                at += usize::try_from(pos.len).unwrap_or(bytes.len());
            }
            Err(reason) => match resync(bytes, at + 1, min) {
                Some(next) => {
                    let lost = if known_prev {
                        next.seq.saturating_sub(min).max(1)
                    } else {
                        1
                    };
                    out.skipped.push(Skipped {
                        offset: at as u64,
                        len: next.offset - at as u64,
                        reason,
                        lost,
                    });
                    at = usize::try_from(next.offset).unwrap_or(bytes.len());
                }
                None => {
                    out.stop = Some(DecodeStop {
                        offset: at as u64,
                        reason,
                    });
                    break;
                }
            },
        }
    }
    out
}

fn resync(bytes: &[u8], mut from: usize, min: u64) -> Option<RecordPos> {
    while let Some(at) = record::find_magic(bytes, from) {
        if let Ok(pos) = good_at(bytes, at, min) {
            return Some(pos);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segment(first: u64, payloads: &[&[u8]]) -> (Vec<u8>, Vec<u64>) {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            offsets.push(bytes.len() as u64);
            record::encode(first + i as u64, p, &mut bytes).unwrap();
        }
        (bytes, offsets)
    }

    #[test]
    fn clean_segment() {
        let (bytes, offsets) = segment(10, &[b"a", b"", b"ccc"]);
        let s = scan(&bytes, Some(10));
        assert_eq!(
            s.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            offsets
        );
        assert_eq!(
            s.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [10, 11, 12]
        );
        assert!(s.skipped.is_empty());
        assert_eq!(s.stop, None);
        let d = decode_segment(&bytes);
        assert_eq!(d.records[2].payload, b"ccc");
    }

    #[test]
    fn empty_segment() {
        assert_eq!(scan(&[], Some(5)), SegmentScan::default());
    }

    #[test]
    fn torn_tail_stops_at_last_good_record() {
        let (bytes, offsets) = segment(1, &[b"one", b"two", b"three"]);
        for cut in offsets[2] as usize + 1..bytes.len() {
            let s = scan(&bytes[..cut], Some(1));
            assert_eq!(s.records.len(), 2);
            assert_eq!(s.stop.map(|s| s.offset), Some(offsets[2]));
            assert!(s.skipped.is_empty());
        }
    }

    #[test]
    fn damaged_middle_record_is_skipped_and_counted() {
        let (mut bytes, offsets) = segment(1, &[b"one", b"two", b"three", b"four"]);
        bytes[offsets[1] as usize + 21] ^= 0x40;
        let s = scan(&bytes, Some(1));
        assert_eq!(
            s.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 3, 4]
        );
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].offset, offsets[1]);
        assert_eq!(s.skipped[0].len, offsets[2] - offsets[1]);
        assert_eq!(s.skipped[0].lost, 1);
        assert!(matches!(s.skipped[0].reason, RecordError::BadCrc { .. }));
        assert_eq!(s.stop, None);
    }

    #[test]
    fn huge_garbled_length_does_not_swallow_later_records() {
        let (mut bytes, offsets) = segment(1, &[b"one", b"two", b"three"]);
        let o = offsets[0] as usize;
        bytes[o + 4..o + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let s = scan(&bytes, Some(1));
        assert_eq!(s.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(s.skipped[0].lost, 1);
    }

    #[test]
    fn several_lost_records_are_counted_by_seq_gap() {
        let (mut bytes, offsets) = segment(1, &[b"1", b"2", b"3", b"4", b"5"]);
        for o in &offsets[1..4] {
            bytes[*o as usize] = 0;
        }
        let s = scan(&bytes, Some(1));
        assert_eq!(s.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 5]);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.skipped[0].lost, 3);
    }

    #[test]
    fn records_below_the_segment_name_are_out_of_order() {
        let (bytes, _) = segment(3, &[b"a", b"b"]);
        let s = scan(&bytes, Some(4));
        assert_eq!(s.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [4]);
        assert!(matches!(
            s.skipped[0].reason,
            RecordError::OutOfOrder { seq: 3, min: 4 }
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let d = decode_segment(&bytes);
            if let Some(stop) = d.stop {
                prop_assert!(stop.offset <= bytes.len() as u64);
            }
        }

        #[test]
        fn never_panics_on_damaged_segments(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..6),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            let (mut bytes, _) = segment(1, &refs);
            for (i, b) in edits {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            let cut = cut.index(bytes.len() + 1);
            let d = decode_segment(&bytes[..cut]);
            let seqs: Vec<u64> = d.records.iter().map(|r| r.seq).collect();
            prop_assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        }

        /// One flipped byte costs at most the record it lands in; every other
        /// record is still found, in order.
        #[test]
        fn one_flip_loses_at_most_one_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..8),
            at in any::<prop::sample::Index>(),
            mask in 1u8..,
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            let (mut bytes, offsets) = segment(1, &refs);
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
            let hit = offsets.iter().rposition(|&o| o as usize <= at).unwrap();
            let d = decode_segment(&bytes);
            let expect: Vec<u64> = (0..payloads.len()).filter(|&i| i != hit).map(|i| i as u64 + 1).collect();
            let got: Vec<u64> = d.records.iter().map(|r| r.seq).collect();
            prop_assert_eq!(&got, &expect);
            for r in &d.records {
                prop_assert_eq!(&r.payload, &payloads[r.seq as usize - 1]);
            }
        }
    }
}
