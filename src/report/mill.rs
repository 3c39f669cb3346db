//! The ball mill over a production day from its power samples: running
//! above `mill_running_kw`, stopped below, and "no data" where the tag was
//! silent, so a gateway outage never reads as a stop.

/// The power tag is written on change and at least every heartbeat (60 s
/// by default); a longer silence is the gateway or PLC being away, which
/// is shown as "no data", never as a stop.
pub const POWER_HOLD_MS: i64 = 15 * 60_000;

/// A span with the mill below `mill_running_kw`, clipped to the day;
/// `from_before` / `to_after` say it began before or ran past the day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub start_ms: i64,
    pub end_ms: i64,
    pub from_before: bool,
    pub to_after: bool,
}

/// The mill's state over one stretch of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MillState {
    Running,
    Stopped,
    NoData,
}

/// The mill's running/stopped/no-data timeline over `[start, end)` and its
/// stops, from power samples (each held until the next, at most
/// [`POWER_HOLD_MS`]); the samples may begin before and end after the day.
pub fn mill_states(
    samples: &[(i64, f64)],
    start: i64,
    end: i64,
    running_kw: f64,
) -> (Vec<(i64, i64, MillState)>, Vec<Stop>) {
    let mut segs: Vec<(i64, i64, MillState)> = Vec::new();
    let mut push = |from: i64, to: i64, st: MillState| {
        let (from, to) = (from.max(start), to.min(end));
        if to <= from {
            return;
        }
        match segs.last_mut() {
            Some(last) if last.2 == st && last.1 == from => last.1 = to,
            _ => segs.push((from, to, st)),
        }
    };
    let mut cursor = start;
    for (i, &(ts, kw)) in samples.iter().enumerate() {
        if ts >= end {
            break;
        }
        let next = samples.get(i + 1).map_or(end, |n| n.0);
        let held_to = next.min(ts + POWER_HOLD_MS);
        if ts > cursor {
            push(cursor, ts, MillState::NoData);
        }
        let st = if kw > running_kw {
            MillState::Running
        } else {
            MillState::Stopped
        };
        push(ts, held_to, st);
        cursor = cursor.max(held_to);
    }
    push(cursor, end, MillState::NoData);

    let first_ts = samples.first().map_or(i64::MAX, |s| s.0);
    let after_end = samples.iter().find(|s| s.0 >= end).map(|s| s.1);
    let stops = segs
        .iter()
        .filter(|s| s.2 == MillState::Stopped)
        .map(|s| Stop {
            start_ms: s.0,
            end_ms: s.1,
            from_before: s.0 == start && first_ts < start,
            to_after: s.1 == end && after_end.is_some_and(|kw| kw <= running_kw),
        })
        .collect();
    (segs, stops)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;
    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn stops_are_spans_below_the_threshold_and_gaps_are_no_data() {
        let (start, end) = (0, 24 * HOUR_MS);
        let s = vec![
            (-5 * M, 50.0), // stopped since before the day
            (10 * M, 400.0),
            (20 * M, 410.0),
            (30 * M, 20.0), // stop 30..95 min
            (40 * M, 10.0),
            (50 * M, 12.0),
            (60 * M, 11.0),
            (70 * M, 10.0),
            (80 * M, 10.0),
            (95 * M, 420.0),
            (100 * M, 420.0), // silent from 115 min to 200 min: no data
            (200 * M, 420.0),
        ];
        let (segs, stops) = mill_states(&s, start, end, 100.0);
        assert_eq!(stops.len(), 2, "{stops:?}");
        assert_eq!((stops[0].start_ms, stops[0].end_ms), (0, 10 * M));
        assert!(stops[0].from_before && !stops[0].to_after);
        assert_eq!((stops[1].start_ms, stops[1].end_ms), (30 * M, 95 * M));
        assert!(
            segs.contains(&(115 * M, 200 * M, MillState::NoData)),
            "{segs:?}"
        );
        assert_eq!(segs.last().map(|s| s.2), Some(MillState::NoData));
    }
}
