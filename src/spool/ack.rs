//! The persisted ack position: the highest seq InfluxDB has accepted.
//!
//! File `ack`, two 20-byte slots; each slot is magic `PGAK`, u32 version
//! (1), u64 acked seq, CRC-32C of its first 16 bytes, all little-endian.
//! The position is the higher seq of the valid slots.
//!
//! An ack overwrites the slot not holding the current position in place
//! (`pwrite` at its offset, `fdatasync`): the file is allocated when the
//! spool opens, so acknowledging needs no new disk blocks and works on a
//! full disk, which is exactly when the spool must drain. A write torn by a
//! crash spoils only the slot being written, caught by its checksum; the
//! other still holds the previous position (at-least-once: those records
//! are delivered again).
//!
//! A 20-byte file (one slot) is what earlier versions wrote, by replacing
//! it through `ack.tmp`; it is read as slot 0 and given its second slot on
//! open, and a leftover `ack.tmp` is deleted.
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::dir::sync_dir;
use super::SpoolError;

pub const FILE: &str = "ack";
const TMP: &str = "ack.tmp";
const MAGIC: [u8; 4] = *b"PGAK";
const VERSION: u32 = 1;
const SLOT: usize = 20;
const SLOTS: usize = 2;

/// What [`AckFile::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No ack file: nothing was ever acknowledged.
    Missing,
    Acked(u64),
    /// The file exists but holds no valid slot (the reason says why).
    Corrupt(String),
}

fn encode(seq: u64) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..8].copy_from_slice(&VERSION.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&b[..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Result<u64, String> {
    if b.len() != SLOT {
        return Err(format!("{} bytes, expected {SLOT}", b.len()));
    }
    if b[0..4] != MAGIC {
        return Err("bad magic".into());
    }
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(&b[r]);
        u64::from_le_bytes(w)
    };
    let stored_crc = word(16..20) as u32;
    if crc32c::crc32c(&b[..16]) != stored_crc {
        return Err("checksum mismatch".into());
    }
    let version = word(4..8);
    if version != u64::from(VERSION) {
        return Err(format!("unknown version {version}"));
    }
    Ok(word(8..16))
}

/// Per slot, its seq if valid.
fn decode_slots(b: &[u8]) -> Result<[Option<u64>; SLOTS], String> {
    if b.len() != SLOT && b.len() != SLOT * SLOTS {
        return Err(format!(
            "{} bytes, expected {SLOT} or {}",
            b.len(),
            SLOT * SLOTS
        ));
    }
    let mut out = [None; SLOTS];
    let mut why = String::new();
    for (i, chunk) in b.chunks(SLOT).enumerate() {
        match decode_slot(chunk) {
            Ok(seq) => out[i] = Some(seq),
            Err(e) => why = format!("slot {i}: {e}"),
        }
    }
    if out.iter().all(Option::is_none) {
        return Err(why);
    }
    Ok(out)
}

/// The ack position an `ack` file's bytes hold, or why they hold none.
pub fn decode(b: &[u8]) -> Result<u64, String> {
    decode_slots(b).map(|slots| slots.iter().flatten().copied().max().unwrap_or(0))
}

/// The open ack file; [`AckFile::store`] overwrites one slot in place.
#[derive(Debug)]
pub struct AckFile {
    file: File,
    path: PathBuf,
    /// The slot the next store overwrites: never the one holding the
    /// current position.
    next: usize,
}

impl AckFile {
    /// Opens (creating or upgrading if needed) the ack file in `dir` and
    /// returns what it held. Both slots exist on disk when it returns.
    #[cfg(test)]
    pub fn open(dir: &Path) -> Result<(AckFile, Loaded), SpoolError> {
        AckFile::open_named(dir, FILE)
    }

    /// Like [`AckFile::open`], for the file `name` in `dir` (one per sink
    /// cursor, see [`super::cursor`]).
    pub fn open_named(dir: &Path, name: &str) -> Result<(AckFile, Loaded), SpoolError> {
        if name == FILE {
            remove_leftover(dir)?;
        }
        let path = dir.join(name);
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| SpoolError::io("open ack file", &path, e))?;
        let bytes = fs::read(&path).map_err(|e| SpoolError::io("read ack file", &path, e))?;
        let mut ack = AckFile {
            file,
            path,
            next: 0,
        };
        let loaded = if !existed {
            Loaded::Missing
        } else {
            match decode_slots(&bytes) {
                Ok(slots) if bytes.len() == SLOT * SLOTS => {
                    // Overwrite the older (or damaged) slot first.
                    ack.next = match slots {
                        [Some(a), Some(b)] if a > b => 1,
                        [Some(_), None] => 1,
                        _ => 0,
                    };
                    let seq = slots.iter().flatten().copied().max().unwrap_or(0);
                    return Ok((ack, Loaded::Acked(seq)));
                }
                Ok(slots) => Loaded::Acked(slots[0].unwrap_or(0)),
                Err(why) => Loaded::Corrupt(why),
            }
        };
        // New, old-format or unreadable: write both slots now, while
        // allocating is harmless, so no later ack needs to.
        let seq = match loaded {
            Loaded::Acked(seq) => seq,
            _ => 0,
        };
        let mut both = [0u8; SLOT * SLOTS];
        both[..SLOT].copy_from_slice(&encode(seq));
        both[SLOT..].copy_from_slice(&encode(seq));
        ack.file
            .write_all_at(&both, 0)
            .and_then(|()| ack.file.set_len((SLOT * SLOTS) as u64))
            .and_then(|()| ack.file.sync_all())
            .map_err(|e| SpoolError::io("write ack file", &ack.path, e))?;
        if !existed {
            sync_dir(dir)?;
        }
        Ok((ack, loaded))
    }

    /// Durably records `seq` as acknowledged.
    pub fn store(&mut self, seq: u64) -> Result<(), SpoolError> {
        let offset = (self.next * SLOT) as u64;
        self.file
            .write_all_at(&encode(seq), offset)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| SpoolError::io("write ack file", &self.path, e))?;
        self.next = (self.next + 1) % SLOTS;
        Ok(())
    }
}

/// Removes a temporary file an earlier version left by a crash while
/// replacing `ack`; the rename never happened, so `ack` still holds the
/// previous position.
fn remove_leftover(dir: &Path) -> Result<(), SpoolError> {
    let tmp = dir.join(TMP);
    match fs::remove_file(&tmp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io("delete leftover ack file", tmp, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reopen(dir: &Path) -> Loaded {
        AckFile::open(dir).unwrap().1
    }

    #[test]
    fn missing_then_stored_then_replaced_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (mut f, loaded) = AckFile::open(dir.path()).unwrap();
        assert_eq!(loaded, Loaded::Missing);
        let path = dir.path().join(FILE);
        assert_eq!(fs::metadata(&path).unwrap().len(), (SLOT * SLOTS) as u64);
        let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        for seq in [7, 8, 9, u64::MAX] {
            f.store(seq).unwrap();
            assert_eq!(decode(&fs::read(&path).unwrap()), Ok(seq));
        }
        drop(f);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&meta),
            ino,
            "replaced, not overwritten"
        );
        assert_eq!(meta.len(), (SLOT * SLOTS) as u64);
        assert_eq!(reopen(dir.path()), Loaded::Acked(u64::MAX));
    }

    #[test]
    fn a_torn_store_falls_back_to_the_previous_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let (mut f, _) = AckFile::open(dir.path()).unwrap();
        f.store(5).unwrap();
        f.store(6).unwrap();
        drop(f);
        let good = fs::read(&path).unwrap();
        // Whichever slot holds 6 is the one the next store overwrites last;
        // tear every byte of each slot in turn.
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            fs::write(&path, &b).unwrap();
            let slot_seq = decode_slot(&good[i / SLOT * SLOT..][..SLOT]).unwrap();
            let expect = if slot_seq == 6 { 5 } else { 6 };
            assert_eq!(reopen(dir.path()), Loaded::Acked(expect), "byte {i}");
            // Reopening a torn file and storing again must leave the newest.
            fs::write(&path, &b).unwrap();
            let (mut f, _) = AckFile::open(dir.path()).unwrap();
            f.store(7).unwrap();
            drop(f);
            assert_eq!(reopen(dir.path()), Loaded::Acked(7), "byte {i}, then store");
            fs::write(&path, &good).unwrap();
        }
    }

    #[test]
    fn damage_everywhere_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        fs::write(&path, b"garbage").unwrap();
        assert!(matches!(reopen(dir.path()), Loaded::Corrupt(_)));
        // Rewritten on open: a valid file at position 0 again.
        assert_eq!(decode(&fs::read(&path).unwrap()), Ok(0));
        fs::write(&path, [0u8; SLOT * SLOTS]).unwrap();
        assert!(matches!(reopen(dir.path()), Loaded::Corrupt(_)));
    }

    #[test]
    fn an_old_single_slot_file_is_read_and_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        fs::write(&path, encode(42)).unwrap();
        fs::write(dir.path().join(TMP), b"half").unwrap();
        let (mut f, loaded) = AckFile::open(dir.path()).unwrap();
        assert_eq!(loaded, Loaded::Acked(42));
        assert!(!dir.path().join(TMP).exists());
        assert_eq!(fs::metadata(&path).unwrap().len(), (SLOT * SLOTS) as u64);
        f.store(43).unwrap();
        drop(f);
        assert_eq!(reopen(dir.path()), Loaded::Acked(43));
    }
}
