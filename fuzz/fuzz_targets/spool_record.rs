//! Spool segment decoding (`plantgw::spool::decode_segment`), the code that
//! reads whatever a crash or a bad disk left on disk: any bytes give good
//! records in seq order plus counted damage, never a panic.
//!
//! The first input byte picks the mode:
//! - even: the rest is a segment's bytes, decoded as they are; the records
//!   found must re-encode to a segment that decodes to the same records;
//! - odd: the rest builds a clean segment (payloads separated by 0x00;
//!   0xFE, which never occurs in UTF-8 line protocol, is replaced), one
//!   byte of it is XORed and the tail may be cut: every record the damage
//!   did not touch must still be found, with its payload (unless the
//!   damage completed a valid record hidden in a payload).
#![no_main]
use libfuzzer_sys::fuzz_target;
use plantgw::spool::{decode_segment, record, DecodedSegment};

fn check_shape(d: &DecodedSegment, len: usize) {
    assert!(
        d.records.windows(2).all(|w| w[0].seq < w[1].seq),
        "records out of seq order"
    );
    let mut end = 0u64;
    for s in &d.skipped {
        assert!(s.offset >= end, "skipped stretches overlap or go backwards");
        assert!(s.len > 0 && s.lost >= 1);
        end = s.offset + s.len;
        assert!(end <= len as u64, "skipped stretch past the end");
    }
    if let Some(stop) = d.stop {
        assert!(
            stop.offset >= end && stop.offset < len as u64,
            "stop offset out of range"
        );
    }
}

fn raw(bytes: &[u8]) {
    let d = decode_segment(bytes);
    check_shape(&d, bytes.len());
    // Whatever was found is a clean segment again.
    let mut again = Vec::new();
    for r in &d.records {
        record::encode(r.seq, &r.payload, &mut again).expect("re-encode");
    }
    let d2 = decode_segment(&again);
    assert_eq!(d2.records, d.records);
    assert!(d2.skipped.is_empty() && d2.stop.is_none());
}

fn damaged(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let at = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let mask = data[2];
    let cut = data[3];
    let payloads: Vec<Vec<u8>> = data[4..]
        .split(|&b| b == 0)
        .take(64)
        .map(|p| {
            p.iter()
                .map(|&b| if b == 0xFE { b'~' } else { b })
                .collect()
        })
        .collect();
    let first_seq = 1 + u64::from(cut);
    let mut bytes = Vec::new();
    let mut spans = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let start = bytes.len();
        record::encode(first_seq + i as u64, p, &mut bytes).expect("encode");
        spans.push(start..bytes.len());
    }
    let clean = decode_segment(&bytes);
    assert_eq!(clean.records.len(), payloads.len());
    assert!(clean.skipped.is_empty() && clean.stop.is_none());

    let at = at % bytes.len();
    bytes[at] ^= mask;
    // Cut off up to 255 bytes of the tail: a torn last write.
    let keep = bytes.len() - usize::from(cut).min(bytes.len());
    let bytes = &bytes[..keep];
    let d = decode_segment(bytes);
    check_shape(&d, bytes.len());
    // A payload may carry the bytes of a whole valid record that the flip
    // completes (the fuzzer can solve the CRC): a record that really is on
    // disk, found where the damage led the scanner. The property below is
    // about real records only.
    let forged = d.records.iter().any(|r| {
        r.seq < first_seq || payloads.get((r.seq - first_seq) as usize) != Some(&r.payload)
    });
    if forged {
        return;
    }
    for (i, span) in spans.iter().enumerate() {
        let touched = mask != 0 && span.contains(&at);
        if touched || span.end > keep {
            continue;
        }
        let seq = first_seq + i as u64;
        let found = d.records.iter().find(|r| r.seq == seq);
        assert!(
            found.is_some_and(|r| r.payload == payloads[i]),
            "record {seq} untouched by the damage but not found intact"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        raw(rest);
    } else {
        damaged(rest);
    }
});
