//! The spool's lock: one process per spool directory.
//!
//! `spool.lock` is locked with `flock(2)` (exclusive, non-blocking) for as
//! long as the spool is open. The kernel drops the lock when the process
//! ends, however it ends (SIGKILL, OOM kill, a crash), so there is no stale
//! lock to judge, whatever pid the file names and whoever has that pid now.
//! The file holds the owner's pid only for people (`cat spool.lock`).
//!
//! The file is never deleted: a process waiting on a deleted file's lock
//! would get it while a third locks a new file of the same name. An flock
//! belongs to the open file, so a second open in this same process
//! conflicts too; the pid in the file then names this process, which tells
//! that case apart for a clearer message.
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::SpoolError;

pub const FILE: &str = "spool.lock";

/// Held for as long as the spool is open; closing the file on drop
/// releases the lock.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    _file: File,
}

impl LockFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `flock(LOCK_EX | LOCK_NB)`; `WouldBlock` when another open file holds it.
fn try_lock(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock only reads the descriptor number, which `file`
        // keeps open for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The pid a lock file names, if it names one.
fn named_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let n = file.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Tries the lock a few times over 200 ms before giving up: a process
/// being spawned holds a copy of every descriptor until it execs, so a
/// lock just released by this process can look held for a moment.
fn lock_soon(file: &std::fs::File) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match try_lock(file) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && tries < 10 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

pub fn acquire(dir: &Path) -> Result<LockFile, SpoolError> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| SpoolError::io("resolve spool directory", dir, e))?;
    let path = dir.join(FILE);
    let pid = std::process::id();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| SpoolError::io("open lock file", &path, e))?;
    match lock_soon(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(match named_pid(&file) {
                Some(holder) if holder == pid => SpoolError::AlreadyOpen { dir, path, pid },
                holder => SpoolError::Locked {
                    dir,
                    path,
                    pid: holder,
                },
            });
        }
        Err(e) => return Err(SpoolError::io("lock", &path, e)),
    }
    // Only informational, so a full disk must not stop the spool opening.
    let text = format!("{pid}\n");
    if let Err(e) = file
        .set_len(0)
        .and_then(|()| file.write_all_at(text.as_bytes(), 0))
    {
        tracing::debug!(lock = %path.display(), error = %e, "could not write the pid into the spool lock file");
    }
    Ok(LockFile { path, _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    #[test]
    fn second_acquire_in_process_fails_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        let err = acquire(dir.path()).unwrap_err();
        assert!(matches!(err, SpoolError::AlreadyOpen { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(FILE) && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        drop(lock);
        drop(acquire(dir.path()).unwrap());
    }

    #[test]
    fn a_pid_in_the_file_means_nothing_without_the_flock() {
        let dir = tempfile::tempdir().unwrap();
        // pid 1 is always alive: the old guessing kept such a lock forever.
        std::fs::write(dir.path().join(FILE), "1\n").unwrap();
        drop(acquire(dir.path()).unwrap());
    }

    /// Another process holding the flock keeps the spool; once it is
    /// SIGKILLed the kernel frees the lock and the spool opens.
    #[test]
    fn a_live_holder_keeps_it_and_a_killed_one_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "77\n").unwrap();
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import fcntl, sys, time\n\
                 f = open(sys.argv[1], 'r+')\n\
                 fcntl.flock(f, fcntl.LOCK_EX)\n\
                 print('locked', flush=True)\n\
                 time.sleep(60)",
            ])
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 to hold a flock (apt-get install python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        let err = acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        match &err {
            SpoolError::Locked { pid, path, dir: d } => {
                assert_eq!(*pid, Some(77));
                assert!(path.ends_with(FILE));
                assert_eq!(d, &std::fs::canonicalize(dir.path()).unwrap());
            }
            other => panic!("{other}"),
        }
        assert!(
            msg.contains("process 77") && msg.contains(&dir.path().display().to_string()),
            "{msg}"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        drop(acquire(dir.path()).unwrap());
    }
}
