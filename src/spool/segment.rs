//! Segment files: naming, creating, appending with fsync, reading back,
//! truncating and deleting. What the bytes mean is [`super::record`]'s and
//! [`super::scan`]'s business.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::dir::sync_dir;
use super::SpoolError;

const SUFFIX: &str = ".seg";
/// Enough digits for any u64, so that names sort like the seqs they carry.
const DIGITS: usize = 20;

/// `00000000000000000042.seg` for a segment whose first record is seq 42.
pub fn file_name(first_seq: u64) -> String {
    format!("{first_seq:0DIGITS$}{SUFFIX}")
}

/// The first seq a segment file name promises, or `None` for other files.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
    let entries = fs::read_dir(dir).map_err(|e| SpoolError::io("list directory", dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SpoolError::io("list directory", dir, e))?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_file_name) {
            out.push((first, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(first, _)| *first);
    Ok(out)
}

pub fn read_all(path: &Path) -> Result<Vec<u8>, SpoolError> {
    fs::read(path).map_err(|e| SpoolError::io("read segment", path, e))
}

/// Creates an empty segment and makes its name durable: the name records
/// the next seq even if nothing is ever written into the file.
pub fn create(dir: &Path, first_seq: u64) -> Result<(PathBuf, File), SpoolError> {
    let path = dir.join(file_name(first_seq));
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| SpoolError::io("create segment", &path, e))?;
    sync_dir(dir)?;
    Ok((path, file))
}

pub fn open_append(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| SpoolError::io("open segment for append", path, e))
}

pub fn open_read(path: &Path) -> Result<File, SpoolError> {
    File::open(path).map_err(|e| SpoolError::io("open segment", path, e))
}

/// Cuts a segment back to `len` bytes, durably.
pub fn truncate(path: &Path, len: u64) -> Result<(), SpoolError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| SpoolError::io("open segment to truncate", path, e))?;
    f.set_len(len)
        .and_then(|()| f.sync_all())
        .map_err(|e| SpoolError::io("truncate segment", path, e))
}

/// Deletes a segment; the caller fsyncs the directory once for a batch of
/// deletions. Already gone counts as deleted.
pub fn remove(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SpoolError::io("delete segment", path, e)),
    }
}

/// Appends one record (header, then payload) and fsyncs. On failure the
/// file is cut back to `size_before` so a later append does not land behind
/// half a record; `Err((error, rolled_back))`.
pub fn append(
    file: &mut File,
    path: &Path,
    size_before: u64,
    header: &[u8],
    payload: &[u8],
) -> Result<(), (SpoolError, bool)> {
    let written = file
        .write_all(header)
        .and_then(|()| file.write_all(payload))
        .map_err(|e| SpoolError::io("write segment", path, e))
        // fdatasync covers the new length too: the record is readable after a crash.
        .and_then(|()| {
            file.sync_data()
                .map_err(|e| SpoolError::io("fsync segment", path, e))
        });
    match written {
        Ok(()) => Ok(()),
        Err(e) => {
            let rolled_back = file
                .set_len(size_before)
                .and_then(|()| file.sync_data())
                .is_ok();
            Err((e, rolled_back))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_seqs_and_parse_back() {
        assert_eq!(file_name(42), "00000000000000000042.seg");
        assert_eq!(file_name(u64::MAX), "18446744073709551615.seg");
        for seq in [0, 1, 42, 999, 1000, u64::MAX] {
            assert_eq!(parse_file_name(&file_name(seq)), Some(seq));
        }
        assert!(file_name(999) < file_name(1000));
        for bad in [
            "42.seg",
            "ack",
            "spool.lock",
            "0000000000000000004x.seg",
            "00000000000000000042.seg.tmp",
            "99999999999999999999.seg",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn list_is_sorted_and_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for seq in [30, 4, 1000] {
            create(dir.path(), seq).unwrap();
        }
        fs::write(dir.path().join("ack"), b"x").unwrap();
        let seqs: Vec<u64> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(seqs, [4, 30, 1000]);
        assert!(
            create(dir.path(), 4).is_err(),
            "an existing segment is never overwritten"
        );
    }

    #[test]
    fn append_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut f) = create(dir.path(), 1).unwrap();
        append(&mut f, &path, 0, b"head", b"body")
            .map_err(|(e, _)| e)
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"headbody");
        assert!(open_read(&path).is_ok());
        truncate(&path, 2).unwrap();
        assert_eq!(read_all(&path).unwrap(), b"he");
        remove(&path).unwrap();
        remove(&path).unwrap();
    }
}
