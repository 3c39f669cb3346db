//! Opening a spool: the lock, the ack position, and recovery from
//! whatever a crash left in the segments.
use super::*;

impl Spool {
    /// Opens or creates the spool in `dir`: takes the lock, recovers from
    /// whatever a crash left and positions the reader at the first
    /// unacknowledged record.
    pub fn open_with(dir: &Path, opts: SpoolOptions) -> Result<Spool, SpoolError> {
        Spool::open_for(dir, opts, &[cursor::DEFAULT_SINK])
    }

    /// Opens the spool for `sinks`, each with its own cursor: a record
    /// stays until every one of them has acknowledged it.
    pub fn open_for(dir: &Path, opts: SpoolOptions, sinks: &[&str]) -> Result<Spool, SpoolError> {
        let min = record::encoded_len(0);
        if opts.max_bytes < min {
            return Err(SpoolError::MaxBytesTooSmall {
                dir: dir.to_path_buf(),
                max_bytes: opts.max_bytes,
                min,
            });
        }
        let opts = SpoolOptions {
            segment_bytes: opts.segment_bytes.max(1),
            ..opts
        };
        fs::create_dir_all(dir).map_err(|e| SpoolError::io("create spool directory", dir, e))?;
        let lock = lock::acquire(dir)?;
        let dir = dir.to_path_buf();
        // The spool keeps what its slowest cursor has not passed.
        let cursors = cursor::Cursors::open(&dir, sinks)?;
        let acked = cursors.floor();

        let mut counters = Counters::default();
        // A seq a sink has acknowledged is never handed out again, even
        // when its segment is gone: a sink may deduplicate by seq.
        let mut next_seq = cursors.ceiling().saturating_add(1).max(1);
        let mut segments = VecDeque::new();
        // Per segment: offset and index of its first record newer than the ack.
        let mut starts: VecDeque<Option<(u64, u64)>> = VecDeque::new();
        let files = segment::list(&dir)?;
        let mut prev_last: Option<u64> = None;
        for (i, (first, path)) in files.iter().enumerate() {
            let bytes = segment::read_all(path)?;
            let floor = prev_last.map_or(*first, |p| (*first).max(p.saturating_add(1)));
            let scan = scan::scan(&bytes, Some(floor));
            let mut seg = Segment::new(*first, path.clone());
            seg.size = bytes.len() as u64;
            for s in &scan.skipped {
                events::corrupt(path, s.offset, s.len, s.lost, &s.reason);
                counters.corrupt_records += s.lost;
                seg.skips.push((s.offset, s.offset + s.len));
            }
            if let Some(stop) = scan.stop {
                let tail = seg.size - stop.offset;
                match files.get(i + 1) {
                    None => {
                        segment::truncate(path, stop.offset)?;
                        events::torn_tail(path, stop.offset, tail, &stop.reason);
                        counters.truncated_bytes += tail;
                        seg.size = stop.offset;
                    }
                    Some((next_first, _)) => {
                        let expected = scan.records.last().map_or(floor, |r| r.seq + 1);
                        let lost = next_first.saturating_sub(expected).max(1);
                        events::corrupt(path, stop.offset, tail, lost, &stop.reason);
                        counters.corrupt_records += lost;
                        seg.skips.push((stop.offset, seg.size));
                    }
                }
            }
            seg.valid = scan.records.len() as u64;
            seg.last_seq = scan.records.last().map(|r| r.seq);
            if let Some(last) = seg.last_seq {
                prev_last = Some(last);
                next_seq = next_seq.max(last.saturating_add(1));
            }
            next_seq = next_seq.max(*first);
            starts.push_back(
                scan.records
                    .iter()
                    .position(|r| r.seq > acked)
                    .map(|i| (scan.records[i].offset, i as u64)),
            );
            segments.push_back(seg);
        }

        // Leading segments with nothing newer than the ack are done with.
        // A lone empty segment stays: its name carries the next seq.
        let mut deleted = false;
        while let Some(front) = segments.front() {
            let done = match front.last_seq {
                Some(last) => last <= acked,
                None => segments.len() > 1,
            };
            if !done {
                break;
            }
            segment::remove(&front.path)?;
            segments.pop_front();
            starts.pop_front();
            deleted = true;
        }
        if deleted {
            dir::sync_dir(&dir)?;
        }
        let mut reader = Reader::default();
        if let Some(Some((offset, consumed))) = starts.front() {
            reader.offset = *offset;
            reader.consumed = *consumed;
        }

        let spool = Spool {
            dir,
            opts,
            segments,
            writer: None,
            reader,
            acked,
            cursors,
            ahead: BTreeMap::new(),
            next_seq,
            counters,
            lock,
        };
        let stats = spool.stats();
        events::gauges(&stats);
        tracing::info!(
            dir = %spool.dir.display(),
            records = stats.records,
            bytes = stats.bytes,
            segments = stats.segments,
            acked_seq = stats.acked_seq,
            next_seq = spool.next_seq,
            lock = %spool.lock.path().display(),
            "spool opened"
        );
        Ok(spool)
    }
}
