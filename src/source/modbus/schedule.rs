//! Which blocks of a PLC a scan reads, and in what order. A block that fails
//! while the rest of its PLC answers *rests*: it is retried on a slower
//! schedule (2 scans, doubling up to 30 s), so a silent register range costs
//! one timeout per retry, not one per scan, and its tags keep their code
//! meanwhile. A block refused with exception 2 is split until the PLC
//! accepts its parts. Bookkeeping only; the poller does the talking.
use std::time::Duration;

use tokio::time::Instant;

use super::planner::{plan_singles, plan_subset, PollPlan, ReadBlock};
use crate::config::Tag;
use crate::sample::Quality;

/// The longest a resting block waits between retries (unless one scan is
/// longer still).
pub const REST_MAX: Duration = Duration::from_secs(30);

/// A failing block's retry state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rest {
    /// When it is read again.
    pub due: Instant,
    /// How long it waited for this retry; the next wait is twice that.
    pub wait: Duration,
    /// Its tags' quality until it answers.
    pub code: Quality,
}

#[derive(Debug, Clone)]
struct Entry {
    block: ReadBlock,
    rest: Option<Rest>,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    entries: Vec<Entry>,
    scan: Duration,
    /// Where the working blocks' order starts, moved past blocks that made a
    /// scan give up, so a run of silent ranges at the front of the plan
    /// cannot pass for a dead PLC on every attempt.
    first: usize,
}

/// The wait before a failing block's next retry: two scans at first, then
/// doubling up to [`REST_MAX`] (or one scan, if that is longer).
pub fn next_wait(previous: Option<Duration>, scan: Duration) -> Duration {
    let cap = REST_MAX.max(scan);
    previous.map_or(scan * 2, |w| w * 2).min(cap)
}

impl Schedule {
    pub fn new(plan: PollPlan, scan: Duration) -> Schedule {
        Schedule {
            entries: plan
                .blocks
                .into_iter()
                .map(|block| Entry { block, rest: None })
                .collect(),
            scan,
            first: 0,
        }
    }

    pub fn block(&self, i: usize) -> &ReadBlock {
        &self.entries[i].block
    }

    /// The blocks to read at `now`, in order: working blocks first, then the
    /// resting ones whose retry is due (last, so their timeouts delay no
    /// other block's reading).
    pub fn due(&self, now: Instant) -> Vec<usize> {
        let mut working: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].rest.is_none())
            .collect();
        if !working.is_empty() {
            let n = self.first % working.len();
            working.rotate_left(n);
        }
        working.extend(
            (0..self.entries.len()).filter(|&i| self.entries[i].rest.is_some_and(|r| r.due <= now)),
        );
        working
    }

    /// Resting blocks not read at `now`, with their tags' code.
    pub fn resting(&self, now: Instant) -> impl Iterator<Item = (&ReadBlock, Quality)> {
        self.entries.iter().filter_map(move |e| match e.rest {
            Some(r) if r.due > now => Some((&e.block, r.code)),
            _ => None,
        })
    }

    /// Block `i` answered: back to every scan. True if it was resting.
    pub fn answered(&mut self, i: usize) -> bool {
        self.entries[i].rest.take().is_some()
    }

    /// Block `i` failed with `code` while its PLC answered otherwise: it
    /// rests. Returns the new rest and whether it was resting already.
    pub fn failed(&mut self, i: usize, code: Quality, now: Instant) -> (Rest, bool) {
        let previous = self.entries[i].rest;
        let wait = next_wait(previous.map(|r| r.wait), self.scan);
        let rest = Rest {
            due: now + wait,
            wait,
            code,
        };
        self.entries[i].rest = Some(rest);
        (rest, previous.is_some())
    }

    /// A scan gave up after trying `n` working blocks: the next attempt
    /// starts after them.
    pub fn rotate(&mut self, n: usize) {
        self.first = self.first.wrapping_add(n);
    }

    /// The PLC answered: plan order again.
    pub fn unrotate(&mut self) {
        self.first = 0;
    }

    /// Splits the blocks in `which` (answered with exception 2): first at
    /// their gaps, and when that gives the same block back, into one request
    /// per tag range. Returns each block actually split with the number of
    /// parts; a block that cannot be split further is kept as it is.
    pub fn split_refused(&mut self, which: &[usize], tags: &[Tag]) -> Vec<(ReadBlock, usize)> {
        let mut split = Vec::new();
        let mut entries = Vec::with_capacity(self.entries.len());
        for (i, e) in std::mem::take(&mut self.entries).into_iter().enumerate() {
            if !which.contains(&i) {
                entries.push(e);
                continue;
            }
            let mut parts = plan_subset(tags, e.block.tags.iter().copied(), 0);
            if parts.blocks.len() <= 1 {
                parts = plan_singles(tags, e.block.tags.iter().copied());
            }
            if parts.blocks.len() <= 1 {
                entries.push(e);
                continue;
            }
            split.push((e.block, parts.blocks.len()));
            entries.extend(
                parts
                    .blocks
                    .into_iter()
                    .map(|block| Entry { block, rest: None }),
            );
        }
        self.entries = entries;
        self.first = 0;
        split
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DataType, Table};
    use crate::source::modbus::planner::{plan, tests::tag};

    const SCAN: Duration = Duration::from_millis(500);

    #[test]
    fn a_failing_block_is_retried_ever_less_often_up_to_30_s() {
        let mut w = None;
        let mut waits = Vec::new();
        for _ in 0..10 {
            let next = next_wait(w, SCAN);
            waits.push(next.as_millis());
            w = Some(next);
        }
        assert_eq!(
            waits,
            [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000, 30000]
        );
        // A scan slower than the cap: retried every scan, no less often.
        assert_eq!(
            next_wait(Some(Duration::from_secs(60)), Duration::from_secs(45)),
            Duration::from_secs(45)
        );
    }

    #[test]
    fn a_resting_block_is_read_last_and_only_when_due() {
        let tags = vec![
            tag(Table::Holding, 0, DataType::U16, 0),
            tag(Table::Holding, 100, DataType::U16, 0),
            tag(Table::Holding, 200, DataType::U16, 0),
        ];
        let mut s = Schedule::new(plan(&tags, 16), SCAN);
        let t0 = Instant::now();
        assert_eq!(s.due(t0), [0, 1, 2]);
        let (rest, again) = s.failed(0, Quality::Timeout, t0);
        assert!(!again);
        assert_eq!(rest.due, t0 + 2 * SCAN);
        // Resting: skipped, its tags keep the timeout.
        for dt in [SCAN, 2 * SCAN - Duration::from_millis(1)] {
            assert_eq!(s.due(t0 + dt), [1, 2]);
            let resting: Vec<_> = s.resting(t0 + dt).map(|(b, q)| (b.start, q)).collect();
            assert_eq!(resting, [(0, Quality::Timeout)]);
        }
        // Due: tried after the working blocks; failing again doubles the wait.
        let t1 = t0 + 2 * SCAN;
        assert_eq!(s.due(t1), [1, 2, 0]);
        assert_eq!(s.resting(t1).count(), 0);
        let (rest, again) = s.failed(0, Quality::Timeout, t1);
        assert!(again);
        assert_eq!((rest.due, rest.wait), (t1 + 4 * SCAN, 4 * SCAN));
        // Answering brings it back to every scan, in plan order.
        assert!(s.answered(0));
        assert!(!s.answered(1));
        assert_eq!(s.due(t1), [0, 1, 2]);
    }

    #[test]
    fn rotation_moves_past_blocks_that_made_a_scan_give_up() {
        let tags: Vec<_> = (0..4)
            .map(|i| tag(Table::Holding, i * 100, DataType::U16, 0))
            .collect();
        let mut s = Schedule::new(plan(&tags, 16), SCAN);
        let now = Instant::now();
        s.rotate(2);
        assert_eq!(s.due(now), [2, 3, 0, 1]);
        s.rotate(3);
        assert_eq!(s.due(now), [1, 2, 3, 0]);
        s.unrotate();
        assert_eq!(s.due(now), [0, 1, 2, 3]);
    }

    #[test]
    fn a_refused_block_without_gaps_splits_down_to_single_tags_once() {
        // Adjacent tags: splitting at gaps gives the same block back.
        let tags: Vec<_> = (0..3)
            .map(|i| tag(Table::Holding, i, DataType::U16, 0))
            .chain([tag(Table::Holding, 10, DataType::U16, 0)])
            .collect();
        let mut s = Schedule::new(plan(&tags, 16), SCAN);
        assert_eq!((s.block(0).start, s.block(0).count), (0, 11));
        // At the gaps first: 0..3 and 10.
        let split = s.split_refused(&[0], &tags);
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].1, 2);
        let ranges = |s: &Schedule| -> Vec<(u16, u16)> {
            s.entries
                .iter()
                .map(|e| (e.block.start, e.block.count))
                .collect()
        };
        assert_eq!(ranges(&s), [(0, 3), (10, 1)]);
        // 0..3 refused again: the gap split returns it whole, so it goes to
        // one request per tag.
        let split = s.split_refused(&[0], &tags);
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].1, 3);
        assert_eq!(ranges(&s), [(0, 1), (1, 1), (2, 1), (10, 1)]);
        // Single tags refused: nothing left to split, nothing reported (so
        // nothing logged), every scan.
        for _ in 0..3 {
            assert!(s.split_refused(&[0, 1, 2, 3], &tags).is_empty());
        }
        assert_eq!(ranges(&s), [(0, 1), (1, 1), (2, 1), (10, 1)]);
    }
}
