//! A large write split into two lanes by series, sent at the same time.
//!
//! InfluxDB 1.x takes one write at a time at about half the rate it takes
//! two (on two cores: 1.9× against 3.2× the live rate of 100 000 tags/s;
//! BENCHMARKS.md, "Replay: InfluxDB's own ceiling"), and a replay merges
//! up to 4 MiB of backlog into one write. Splitting such a write by series
//! key (measurement and tag set) keeps each series' points in the order
//! they were acquired, the order a reader of InfluxDB can see, since a point
//! is its series and its timestamp. Records are still acknowledged only
//! when both lanes are through, so what leaves the spool is what a single
//! write would have taken out.
use super::encoder::line_ranges;

/// Writes this large or larger are split: merged replays. A live batch
/// (5000 lines, about 1.2 MB at 100 000 tags) stays one request.
pub const SPLIT_FROM: usize = 2 << 20;

/// The lines of `body` in two lanes, each newline-terminated and in
/// `body`'s order; every line of one series in the same lane.
pub fn split(body: &[u8]) -> [Vec<u8>; 2] {
    let mut lanes = [
        Vec::with_capacity(body.len() / 2 + 1024),
        Vec::with_capacity(body.len() / 2 + 1024),
    ];
    for r in line_ranges(body) {
        let line = &body[r];
        let lane = &mut lanes[(fnv1a(series_key(line)) & 1) as usize];
        lane.extend_from_slice(line);
        lane.push(b'\n');
    }
    lanes
}

/// The measurement and tag set: the line up to its first unescaped space.
fn series_key(line: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' => i += 2,
            b' ' => return &line[..i],
            _ => i += 1,
        }
    }
    line
}

/// FNV-1a, 64 bits: fast on short keys, the same on every run and build.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_series_key_ends_at_the_first_unescaped_space() {
        assert_eq!(series_key(b"mill,plc=a v=1 1"), b"mill,plc=a");
        assert_eq!(
            series_key(b"ball\\ mill,plc=a\\ b v=\"x y\" 1"),
            b"ball\\ mill,plc=a\\ b"
        );
        assert_eq!(series_key(b"trailing\\"), b"trailing\\");
    }

    fn line() -> impl Strategy<Value = String> {
        // A few series, so lanes repeat them; values and times vary.
        (0..6u8, 0..1000u32, 0..100u32)
            .prop_map(|(s, v, t)| format!("m{},plc=p\\ {} v={v} {t}", s % 3, s))
    }

    proptest! {
        /// Nothing lost or added, each series wholly in one lane, and in
        /// each lane the lines keep the body's order.
        #[test]
        fn lanes_keep_every_line_and_each_series_order(lines in prop::collection::vec(line(), 0..60)) {
            let body = lines.join("\n");
            let lanes = split(body.as_bytes());
            let text: Vec<Vec<&str>> = lanes
                .iter()
                .map(|l| std::str::from_utf8(l).unwrap().lines().collect())
                .collect();
            prop_assert_eq!(text[0].len() + text[1].len(), lines.len());
            for (i, lane) in text.iter().enumerate() {
                let other = &text[1 - i];
                for l in lane {
                    let key = series_key(l.as_bytes());
                    prop_assert!(other.iter().all(|o| series_key(o.as_bytes()) != key));
                }
                // The lane is a subsequence of the body, in order.
                let mut it = lines.iter();
                for l in lane {
                    prop_assert!(it.any(|b| b == l));
                }
            }
        }
    }
}
