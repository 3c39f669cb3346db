//! The persisted ack position: the highest seq InfluxDB has accepted.
//!
//! File `ack`, 20 bytes: magic `PGAK`, u32 version (1), u64 acked seq,
//! CRC-32C of the first 16 bytes; all little-endian. Replaced atomically:
//! written to `ack.tmp`, fsynced, renamed over `ack`, directory fsynced.
//! A crash leaves either the old or the new position, never a mix.
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::dir::sync_dir;
use super::SpoolError;

pub const FILE: &str = "ack";
const TMP: &str = "ack.tmp";
const MAGIC: [u8; 4] = *b"PGAK";
const VERSION: u32 = 1;
const LEN: usize = 20;

/// What [`load`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No ack file: nothing was ever acknowledged.
    Missing,
    Acked(u64),
    /// The file exists but is not a valid ack record (the reason says why).
    Corrupt(String),
}

fn encode(seq: u64) -> [u8; LEN] {
    let mut b = [0u8; LEN];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..8].copy_from_slice(&VERSION.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&b[..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode(b: &[u8]) -> Loaded {
    if b.len() != LEN {
        return Loaded::Corrupt(format!("{} bytes, expected {LEN}", b.len()));
    }
    if b[0..4] != MAGIC {
        return Loaded::Corrupt("bad magic".into());
    }
    let word = |r: std::ops::Range<usize>| {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(&b[r]);
        u64::from_le_bytes(w)
    };
    let stored_crc = word(16..20) as u32;
    if crc32c::crc32c(&b[..16]) != stored_crc {
        return Loaded::Corrupt("checksum mismatch".into());
    }
    let version = word(4..8);
    if version != u64::from(VERSION) {
        return Loaded::Corrupt(format!("unknown version {version}"));
    }
    Loaded::Acked(word(8..16))
}

pub fn load(dir: &Path) -> Result<Loaded, SpoolError> {
    let path = dir.join(FILE);
    match fs::read(&path) {
        Ok(b) => Ok(decode(&b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded::Missing),
        Err(e) => Err(SpoolError::io("read ack file", path, e)),
    }
}

/// Durably records `seq` as acknowledged.
pub fn store(dir: &Path, seq: u64) -> Result<(), SpoolError> {
    let tmp = dir.join(TMP);
    let path = dir.join(FILE);
    File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&encode(seq))?;
            f.sync_all()
        })
        .map_err(|e| SpoolError::io("write ack file", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| SpoolError::io("rename ack file into place", &path, e))?;
    sync_dir(dir)
}

/// Removes a temporary file left by a crash during [`store`]; the rename
/// never happened, so `ack` still holds the previous position.
pub fn remove_leftover(dir: &Path) -> Result<(), SpoolError> {
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

    #[test]
    fn missing_then_stored_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Loaded::Missing);
        store(dir.path(), 7).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Loaded::Acked(7));
        store(dir.path(), u64::MAX).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Loaded::Acked(u64::MAX));
        assert!(!dir.path().join(TMP).exists());
    }

    #[test]
    fn damage_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), 7).unwrap();
        let good = fs::read(dir.path().join(FILE)).unwrap();
        for i in 0..good.len() {
            let mut b = good.clone();
            b[i] ^= 0x10;
            fs::write(dir.path().join(FILE), &b).unwrap();
            assert!(
                matches!(load(dir.path()).unwrap(), Loaded::Corrupt(_)),
                "byte {i}"
            );
        }
        fs::write(dir.path().join(FILE), &good[..10]).unwrap();
        assert!(matches!(load(dir.path()).unwrap(), Loaded::Corrupt(_)));
    }

    #[test]
    fn leftover_tmp_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(TMP), b"half").unwrap();
        remove_leftover(dir.path()).unwrap();
        remove_leftover(dir.path()).unwrap();
        assert!(!dir.path().join(TMP).exists());
    }
}
