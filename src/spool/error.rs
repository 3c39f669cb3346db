//! The spool's error type: every variant names the file and what went wrong.
use std::io;
use std::path::PathBuf;

use super::record::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A filesystem call failed; `op` says which, `path` on what.
    #[error("spool: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another running process holds the spool's flock (the kernel drops
    /// it when that process ends, however it ends).
    #[error(
        "spool {} is in use by another running process ({}; flock on {}); stop that process first",
        dir.display(),
        pid.map_or_else(|| "its lock file names no pid".to_string(), |p| format!("process {p}")),
        path.display()
    )]
    Locked {
        dir: PathBuf,
        path: PathBuf,
        /// The pid the lock file names, if it names one.
        pid: Option<u32>,
    },
    /// This process already has the spool open.
    #[error(
        "spool {} is already open in this process (pid {pid}, lock file {})",
        dir.display(),
        path.display()
    )]
    AlreadyOpen {
        dir: PathBuf,
        path: PathBuf,
        pid: u32,
    },
    /// `max_bytes` cannot hold even an empty record.
    #[error("spool {}: max_bytes {max_bytes} is too small, a record needs at least {min} bytes", dir.display())]
    MaxBytesTooSmall {
        dir: PathBuf,
        max_bytes: u64,
        min: u64,
    },
    /// One payload does not fit in the spool at all.
    #[error(
        "spool {}: a payload of {len} bytes (a {record}-byte record) cannot fit in max_bytes {max_bytes}",
        dir.display()
    )]
    TooLarge {
        dir: PathBuf,
        len: u64,
        record: u64,
        max_bytes: u64,
    },
    /// An ack for a seq that was never handed out.
    #[error("spool {}: cannot acknowledge seq {seq}, the newest appended seq is {last}", dir.display())]
    AckBeyondLast { dir: PathBuf, seq: u64, last: u64 },
    /// A sink name that cannot name its cursor file.
    #[error("spool {}: sink name {name:?} is not usable (letters, digits, '_' and '-' only)", dir.display())]
    BadSinkName { dir: PathBuf, name: String },
    /// A cursor for a sink the spool was not opened for.
    #[error("spool {}: no cursor for sink {name:?}", dir.display())]
    UnknownSink { dir: PathBuf, name: String },
    /// A record read back differently from how it read a moment before:
    /// the disk or the filesystem is failing.
    #[error("spool segment {}: offset {offset} reads back inconsistently ({reason})", path.display())]
    Unstable {
        path: PathBuf,
        offset: u64,
        reason: RecordError,
    },
}

impl SpoolError {
    /// The disk (or a quota) has no room: deleting spooled data helps.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            SpoolError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SpoolError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
