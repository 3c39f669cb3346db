//! The reader: finding the oldest unacknowledged record, reading and
//! checking it, and rescanning a segment found damaged.
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::*;

impl Spool {
    /// Moves the reader to the oldest good record newer than the ack,
    /// deleting segments left behind. With `payload`, reads and checks that
    /// record; without, stops at its header (all `ack` needs to know).
    pub(super) fn seek_unacked(&mut self, payload: bool) -> Result<Option<Found>, SpoolError> {
        let mut deleted = false;
        let mut rescans = 0;
        let found = loop {
            let Some(front) = self.segments.front() else {
                break None;
            };
            let only = self.segments.len() == 1;
            let done = match front.last_seq {
                Some(last) => last <= self.acked,
                None => !only,
            };
            let offset = self.reader.offset;
            let (size, skip_end) = (front.size, front.skip_end(offset));
            // Past the end of an older segment: the rest of it was damaged.
            if done || (offset >= size && !only) {
                segment::remove(&front.path)?;
                self.retire_front_unlinked();
                deleted = true;
                continue;
            }
            if let Some(end) = skip_end {
                self.reader.offset = end;
                self.reader.verified = None;
                continue;
            }
            if offset >= size {
                break None;
            }
            if let Some(v) = self.reader.verified.filter(|v| v.offset == offset) {
                if v.seq <= self.acked {
                    self.advance(v.next);
                    continue;
                }
                if !payload {
                    break Some(Found {
                        seq: v.seq,
                        payload: Vec::new(),
                    });
                }
            }
            match self.read_oldest(offset, payload)? {
                Read::Good { seq, next, .. } if seq <= self.acked => self.advance(next),
                Read::Good { seq, next, payload } => {
                    self.reader.verified = Some(Verified { seq, offset, next });
                    break Some(Found { seq, payload });
                }
                Read::Ahead { seq } => {
                    break Some(Found {
                        seq,
                        payload: Vec::new(),
                    })
                }
                Read::Bad(reason) => {
                    rescans += 1;
                    if rescans > 3 {
                        return Err(SpoolError::Unstable {
                            path: self
                                .segments
                                .front()
                                .map(|s| s.path.clone())
                                .unwrap_or_default(),
                            offset,
                            reason,
                        });
                    }
                    self.rescan_oldest(offset, reason)?;
                }
            }
        };
        if deleted {
            dir::sync_dir(&self.dir)?;
        }
        Ok(found)
    }

    /// After a failed read the next attempt opens the segment afresh: the
    /// handle may be what failed (a remounted disk, a replaced file).
    pub(super) fn forget_reader_file(&mut self) {
        self.reader.file = None;
        self.reader.verified = None;
    }

    fn advance(&mut self, next: u64) {
        self.reader.offset = next;
        self.reader.consumed += 1;
        self.reader.verified = None;
    }

    /// Reads the record at `offset` of the oldest segment.
    fn read_oldest(&mut self, offset: u64, with_payload: bool) -> Result<Read, SpoolError> {
        let Some(seg) = self.segments.front() else {
            return Ok(Read::Bad(RecordError::Truncated {
                needed: record::HEADER_LEN as u64,
                available: 0,
            }));
        };
        let file = match &mut self.reader.file {
            Some(f) => f,
            slot => slot.insert(segment::open_read(&seg.path)?),
        };
        let available = seg.size.saturating_sub(offset);
        let mut header = [0u8; record::HEADER_LEN];
        let head = &mut header[..(record::HEADER_LEN as u64).min(available) as usize];
        if let Some(bad) = read_at(file, &seg.path, offset, head)? {
            return Ok(Read::Bad(bad));
        }
        let h = match record::decode_header(head) {
            Ok(h) => h,
            Err(e) => return Ok(Read::Bad(e)),
        };
        let len = h.record_len();
        if len > available {
            return Ok(Read::Bad(RecordError::Truncated {
                needed: len,
                available,
            }));
        }
        if !with_payload && h.seq > self.acked {
            return Ok(Read::Ahead { seq: h.seq });
        }
        let mut payload = vec![0u8; h.len as usize];
        if let Some(bad) = read_at(
            file,
            &seg.path,
            offset + record::HEADER_LEN as u64,
            &mut payload,
        )? {
            return Ok(Read::Bad(bad));
        }
        if let Err(e) = record::verify(&h, &payload) {
            return Ok(Read::Bad(e));
        }
        Ok(Read::Good {
            seq: h.seq,
            next: offset + len,
            payload,
        })
    }

    /// The oldest segment changed under us (the disk damaged a record read
    /// fine at open): scan it again, count what was lost, and put the
    /// reader on the next good record.
    fn rescan_oldest(&mut self, offset: u64, reason: RecordError) -> Result<(), SpoolError> {
        let Some(seg) = self.segments.front_mut() else {
            return Ok(());
        };
        let bytes = segment::read_all(&seg.path)?;
        let scan = scan::scan(&bytes, Some(seg.first_seq));
        let valid = scan.records.len() as u64;
        let lost = seg.valid.saturating_sub(valid).max(1);
        seg.size = bytes.len() as u64;
        seg.valid = valid;
        seg.last_seq = scan.records.last().map(|r| r.seq);
        seg.skips = scan
            .skipped
            .iter()
            .map(|s| (s.offset, s.offset + s.len))
            .chain(scan.stop.map(|s| (s.offset, seg.size)))
            .collect();
        let next = scan.records.iter().position(|r| r.offset >= offset);
        let (next_offset, consumed) = match next {
            Some(i) => (scan.records[i].offset, i as u64),
            None => (seg.size, valid),
        };
        if next_offset > offset {
            events::corrupt(&seg.path, offset, next_offset - offset, lost, &reason);
            self.counters.corrupt_records += lost;
        }
        self.reader.offset = next_offset;
        self.reader.consumed = consumed;
        self.reader.verified = None;
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes; a file shorter than expected is damage
/// (`Some`), not an I/O failure.
fn read_at(
    file: &File,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
) -> Result<Option<RecordError>, SpoolError> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(RecordError::Truncated {
            needed: buf.len() as u64,
            available: 0,
        })),
        Err(e) => Err(SpoolError::io("read segment", path, e)),
    }
}
