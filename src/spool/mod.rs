//! The durable store-and-forward spool between the historian's writer and
//! InfluxDB: every batch is on disk (fsynced) before it is sent, and leaves
//! only once InfluxDB has acknowledged it.
//!
//! # Guarantees
//!
//! - [`Spool::append`] returns only after the record and its length are
//!   fsynced; the seq it returns is unique and increasing, also across
//!   restarts.
//! - Nothing acknowledged with [`Spool::ack`] is delivered by
//!   [`Spool::peek`] again, also after a crash: the ack position is
//!   persisted before `ack` returns. Delivery is at-least-once: records
//!   after the last ack may be delivered twice around a crash.
//! - Nothing appended is lost unless the `max_bytes` bound or a full disk
//!   ([`Spool::shed_oldest`]) drops it (oldest whole segments first,
//!   counted and logged) or the disk damages it (skipped, counted and
//!   logged). Records are delivered in seq order.
//!
//! # On-disk format
//!
//! A spool directory holds:
//!
//! ```text
//! spool.lock                  flock(2)ed while open; owner pid, for people (lock.rs)
//! ack                         persisted ack position (ack.rs)
//! 00000000000000000001.seg    segments, named by the seq they start at,
//! 00000000000000000913.seg    20 digits so names sort like seqs
//! ```
//!
//! A segment is a plain concatenation of records, no file header. A record
//! is, little-endian:
//!
//! ```text
//! offset  size  field
//!      0     4  magic    FE 50 47 01  (0xFE never occurs in UTF-8; 01 = format version)
//!      4     4  len      payload length in bytes (u32)
//!      8     4  crc      CRC-32C (Castagnoli) over len, seq and payload
//!     12     8  seq      u64
//!     20   len  payload  one InfluxDB batch, opaque here
//! ```
//!
//! The `ack` file is two 20-byte slots, each `PGAK`, u32 version 1, u64
//! acked seq, CRC-32C of its first 16 bytes; the higher valid seq counts.
//! An ack overwrites the older slot in place and fdatasyncs: it needs no
//! new disk blocks, so a full disk can still be drained (ack.rs).
//!
//! # Invariants
//!
//! 1. Seqs start at 1 and strictly increase through a segment and from one
//!    segment to the next; a segment's name is at most its first record's
//!    seq and above every seq in older segments.
//! 2. Only the newest segment is appended to. A segment is closed once the
//!    next record would take it past `segment_bytes` (min(max_bytes / 8,
//!    64 MiB) by default); a record larger than that gets a segment of its
//!    own.
//! 3. A segment file is created (and the directory fsynced) before any
//!    older one is deleted, so after a crash the next seq is recovered as
//!    the highest of: the last good seq + 1, the newest segment's name, the
//!    ack position + 1.
//! 4. A segment is deleted only when every good record in it is at or below
//!    the ack position, or when the `max_bytes` bound drops it. After an
//!    append the segments' total size is at most `max_bytes` (a spool
//!    reopened with a smaller bound shrinks on its first append).
//! 5. The ack position only grows, and is durable before `ack` returns.
//!
//! # Recovery
//!
//! [`Spool::open`] reads every segment. A record that fails its checks is
//! skipped when a good record with a higher seq follows: the scanner
//! searches for the next magic and accepts it only if the whole record
//! checks out, so a garbled length cannot swallow good data. Records lost
//! that way are counted by the seq gap they leave (`corrupt_records`).
//! Damage with no good record after it is a torn tail: in the newest
//! segment it is truncated, so new records go after good data; in an older
//! segment it is skipped and counted. A torn tail is a record whose
//! `append` never returned, unless the disk lost fsynced data; the seqs of
//! truncated records are handed out again.
//!
//! Layout: [`record`] encodes one record, `scan` reads a segment's bytes,
//! `segment` does segment file I/O, `ack` the ack file, `lock` the lock
//! file, `events` the log lines and metrics.
use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

mod ack;
mod ahead;
pub mod cursor;
mod dir;
mod error;
mod events;
mod lock;
mod open;
mod read;
pub mod record;
mod scan;
mod segment;
#[cfg(test)]
mod tests;

pub use cursor::{Cursors, DEFAULT_SINK};
pub use error::SpoolError;
pub use record::RecordError;
pub use scan::{decode_segment, DecodeStop, DecodedSegment, Skipped};

/// The ack position an `ack` file's bytes hold, or why they hold none (for
/// tools and tests that inspect a spool without opening it).
pub fn decode_ack_file(bytes: &[u8]) -> Result<u64, String> {
    ack::decode(bytes)
}

/// Largest default segment: big enough that a full spool is a handful of
/// files, small enough that dropping one loses little.
pub const MAX_SEGMENT_BYTES: u64 = 64 << 20;

/// One spooled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolRecord {
    pub seq: u64,
    pub payload: Vec<u8>,
}

/// A snapshot of the spool; counters are since this process opened it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpoolStats {
    /// Segment bytes on disk (counted against `max_bytes`).
    pub bytes: u64,
    /// Records not yet acknowledged.
    pub records: u64,
    /// Unacknowledged records deleted to stay within `max_bytes`.
    pub dropped_records: u64,
    /// Bytes of those records.
    pub dropped_bytes: u64,
    /// Records lost to damage found while reading.
    pub corrupt_records: u64,
    /// Bytes of torn tails cut off when opening.
    pub truncated_bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Highest acknowledged seq (0: none).
    pub acked_seq: u64,
    /// Highest seq handed out (0: none).
    pub last_seq: u64,
}

/// How a spool is opened; [`SpoolOptions::new`] gives the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolOptions {
    /// Bound on the segments' total size.
    pub max_bytes: u64,
    /// Size at which a segment is closed and a new one started.
    pub segment_bytes: u64,
}

impl SpoolOptions {
    pub fn new(max_bytes: u64) -> SpoolOptions {
        SpoolOptions {
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(1, MAX_SEGMENT_BYTES),
        }
    }
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    path: PathBuf,
    /// Bytes in use: appends go here.
    size: u64,
    /// Good records in it.
    valid: u64,
    last_seq: Option<u64>,
    /// Damaged byte ranges the reader jumps over.
    skips: Vec<(u64, u64)>,
    /// An append failed and could not be undone: never write here again.
    sealed: bool,
}

impl Segment {
    fn new(first_seq: u64, path: PathBuf) -> Segment {
        Segment {
            first_seq,
            path,
            size: 0,
            valid: 0,
            last_seq: None,
            skips: Vec::new(),
            sealed: false,
        }
    }

    fn skip_end(&self, offset: u64) -> Option<u64> {
        self.skips
            .iter()
            .find(|(start, end)| *start <= offset && offset < *end)
            .map(|(_, end)| *end)
    }
}

/// A record read and checked at `offset` of the oldest segment.
#[derive(Debug, Clone, Copy)]
struct Verified {
    seq: u64,
    offset: u64,
    next: u64,
}

/// Position of the oldest unacknowledged record, always in the oldest
/// segment.
#[derive(Debug, Default)]
struct Reader {
    offset: u64,
    /// Good records before `offset`.
    consumed: u64,
    file: Option<File>,
    /// Saves re-reading the record `peek` just returned when it is acked.
    verified: Option<Verified>,
}

#[derive(Debug, Default)]
struct Counters {
    dropped_records: u64,
    dropped_bytes: u64,
    corrupt_records: u64,
    truncated_bytes: u64,
}

/// What [`Spool::read_oldest`] found.
enum Read {
    Good {
        seq: u64,
        next: u64,
        payload: Vec<u8>,
    },
    /// A header with a seq beyond the ack; the payload was not checked.
    Ahead {
        seq: u64,
    },
    Bad(RecordError),
}

struct Found {
    seq: u64,
    payload: Vec<u8>,
}

#[derive(Default)]
struct DropTally {
    segments: u64,
    records: u64,
    bytes: u64,
    seqs: Option<(u64, u64)>,
}

/// The spool. Synchronous and single-threaded: wrap it in a mutex and call
/// it from blocking threads.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    opts: SpoolOptions,
    /// Oldest first; only the last is written to.
    segments: VecDeque<Segment>,
    /// Append handle on the last segment, opened on first use.
    writer: Option<File>,
    reader: Reader,
    acked: u64,
    cursors: cursor::Cursors,
    /// Read positions of sinks ahead of the slowest (see [`ahead`]).
    ahead: BTreeMap<String, ahead::AheadPos>,
    next_seq: u64,
    counters: Counters,
    // Last: released after every file above is closed.
    lock: lock::LockFile,
}

impl Spool {
    /// Opens or creates the spool in `dir` with default segment sizes.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        Spool::open_with(dir, SpoolOptions::new(max_bytes))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.opts.max_bytes
    }

    /// Appends one record and fsyncs it before returning its seq. Makes room
    /// under `max_bytes` by dropping the oldest segments, acknowledged or
    /// not; a payload that could never fit is an error.
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        let len = record::encoded_len(payload.len());
        let header = match record::encode_header(seq, payload) {
            Ok(h) if len <= self.opts.max_bytes => h,
            _ => {
                return Err(SpoolError::TooLarge {
                    dir: self.dir.clone(),
                    len: payload.len() as u64,
                    record: len,
                    max_bytes: self.opts.max_bytes,
                })
            }
        };
        self.make_room(len, seq)?;
        let (Some(file), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Err(SpoolError::io(
                "append to",
                &self.dir,
                io::Error::other("no segment open for writing"),
            ));
        };
        match segment::append(file, &seg.path, seg.size, &header, payload) {
            Ok(()) => {
                seg.size += len;
                seg.valid += 1;
                seg.last_seq = Some(seq);
                self.next_seq = seq + 1;
                events::gauges(&self.stats());
                Ok(seq)
            }
            Err((e, rolled_back)) => {
                if !rolled_back {
                    // Part of the record may be in the file: nothing goes
                    // after it, and its seq is not handed out again.
                    seg.sealed = true;
                    self.writer = None;
                    self.next_seq = seq + 1;
                }
                Err(e)
            }
        }
    }

    /// Ensures the last segment can take a `len`-byte record as `seq` and
    /// the total stays within `max_bytes`.
    fn make_room(&mut self, len: u64, seq: u64) -> Result<(), SpoolError> {
        let full = match self.segments.back() {
            None => true,
            Some(b) => b.sealed || (b.size > 0 && b.size + len > self.opts.segment_bytes),
        };
        if full {
            self.start_segment(seq)?;
        }
        let mut tally = DropTally::default();
        while self.total_bytes() + len > self.opts.max_bytes {
            if self.segments.len() <= 1 {
                // The segment to drop is the one to write to: start its
                // successor first, so the next seq stays on disk.
                self.start_segment(seq)?;
            }
            self.drop_oldest(&mut tally)?;
        }
        if tally.segments > 0 {
            dir::sync_dir(&self.dir)?;
            self.counters.dropped_records += tally.records;
            self.counters.dropped_bytes += tally.bytes;
            events::dropped(
                &self.dir,
                tally.segments,
                tally.records,
                tally.bytes,
                tally.seqs,
                self.opts.max_bytes,
            );
        }
        if self.writer.is_none() {
            if let Some(back) = self.segments.back() {
                self.writer = Some(segment::open_append(&back.path)?);
            }
        }
        Ok(())
    }

    /// Deletes the oldest segment, acknowledged or not, to give space back
    /// to a disk that refused a write. Returns the undelivered records it
    /// held, or `None` when nothing left would free space (only an empty
    /// segment). Counted like a `max_bytes` drop; the caller logs once per
    /// episode, not per segment.
    pub fn shed_oldest(&mut self) -> Result<Option<u64>, SpoolError> {
        let Some(front) = self.segments.front() else {
            return Ok(None);
        };
        if self.segments.len() == 1 {
            if front.size == 0 {
                return Ok(None);
            }
            // Its successor first, so the next seq stays on disk: an empty
            // file needs no data blocks. Should even that fail, space wins:
            // after a crash the dropped records' seqs could be handed out
            // again, harmless since none of them was delivered.
            if let Err(e) = self.start_segment(self.next_seq) {
                tracing::debug!(error = %e, "no successor segment before shedding the only one");
            }
        }
        let mut tally = DropTally::default();
        self.drop_oldest(&mut tally)?;
        dir::sync_dir(&self.dir)?;
        self.counters.dropped_records += tally.records;
        self.counters.dropped_bytes += tally.bytes;
        events::shed(&self.dir, tally.records, tally.bytes, tally.seqs);
        events::gauges(&self.stats());
        Ok(Some(tally.records))
    }

    fn start_segment(&mut self, seq: u64) -> Result<(), SpoolError> {
        let (path, file) = segment::create(&self.dir, seq)?;
        self.segments.push_back(Segment::new(seq, path));
        self.writer = Some(file);
        if self.segments.len() == 1 {
            self.reader = Reader::default();
        }
        Ok(())
    }

    fn drop_oldest(&mut self, tally: &mut DropTally) -> Result<(), SpoolError> {
        let Some(seg) = self.segments.front() else {
            return Ok(());
        };
        segment::remove(&seg.path)?;
        let records = seg.valid.saturating_sub(self.reader.consumed);
        tally.segments += 1;
        tally.records += records;
        tally.bytes += seg.size.saturating_sub(self.reader.offset);
        if let (true, Some(last)) = (records > 0, seg.last_seq) {
            let first = seg.first_seq.max(self.acked + 1);
            tally.seqs = Some((tally.seqs.map_or(first, |(f, _)| f), last));
        }
        self.retire_front_unlinked();
        Ok(())
    }

    /// Forgets the oldest segment, whose file is already deleted.
    fn retire_front_unlinked(&mut self) {
        self.segments.pop_front();
        self.reader = Reader::default();
        if self.segments.is_empty() {
            self.writer = None;
        }
    }

    fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// The oldest record not yet acknowledged by every sink, left in place.
    pub fn peek(&mut self) -> Result<Option<SpoolRecord>, SpoolError> {
        let found = self
            .seek_unacked(true)
            .inspect_err(|_| self.forget_reader_file())?;
        Ok(found.map(|f| SpoolRecord {
            seq: f.seq,
            payload: f.payload,
        }))
    }

    /// Acknowledges for the default sink every record up to and including
    /// `seq`: persists the position, then deletes segments every sink has
    /// passed. Acking an old seq again is a no-op; a seq never handed out
    /// is an error.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        self.ack_for(cursor::DEFAULT_SINK, seq)
    }

    pub fn stats(&self) -> SpoolStats {
        let valid: u64 = self.segments.iter().map(|s| s.valid).sum();
        SpoolStats {
            bytes: self.total_bytes(),
            records: valid.saturating_sub(self.reader.consumed),
            dropped_records: self.counters.dropped_records,
            dropped_bytes: self.counters.dropped_bytes,
            corrupt_records: self.counters.corrupt_records,
            truncated_bytes: self.counters.truncated_bytes,
            segments: self.segments.len() as u64,
            acked_seq: self.acked,
            last_seq: self.next_seq - 1,
        }
    }
}
