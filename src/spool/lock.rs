//! The spool's lock file: one process per spool directory.
//!
//! `spool.lock` holds the owner's pid on its first line (so `cat` and
//! `kill` work) and, on a second line, the owner's start time in clock ticks
//! since boot and the kernel boot id. A lock is stale, and taken over with a
//! warning, when `/proc/<pid>` is gone, or when that pid now belongs to a
//! process started at another time or in another boot: after a crash in a
//! container the new gateway often gets the very pid the old one had.
//! Created with `O_EXCL`, so two processes cannot both create it; taking over
//! a stale lock deletes it and then races for the `O_EXCL` create again.
//! Within one process a registry of held locks refuses a second open.
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::dir::sync_dir;
use super::SpoolError;

pub const FILE: &str = "spool.lock";

/// Lock files this process holds, by canonical path.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // The list stays consistent even if a holder panicked.
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Who wrote a lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start: Option<u64>,
    boot: Option<String>,
}

impl Owner {
    fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_ticks(pid),
            boot: boot_id(),
        }
    }

    fn to_file(&self) -> String {
        let mut s = format!("{}\n", self.pid);
        if let Some(start) = self.start {
            s.push_str(&format!("start={start} "));
        }
        if let Some(boot) = &self.boot {
            s.push_str(&format!("boot={boot}"));
        }
        s.push('\n');
        s
    }

    fn parse(text: &str) -> Option<Owner> {
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let mut owner = Owner {
            pid,
            start: None,
            boot: None,
        };
        for word in lines.flat_map(str::split_whitespace) {
            if let Some(v) = word.strip_prefix("start=") {
                owner.start = v.parse().ok();
            } else if let Some(v) = word.strip_prefix("boot=") {
                owner.boot = Some(v.to_string());
            }
        }
        Some(owner)
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Why a lock file does not belong to a live process, or `None` if it may.
fn stale_reason(owner: Option<&Owner>, me: &Owner) -> Option<String> {
    let Some(owner) = owner else {
        return Some("it names no pid (a crash while it was written?)".into());
    };
    if !Path::new("/proc/self").exists() {
        // Without /proc nothing can be proven dead.
        return None;
    }
    if !Path::new(&format!("/proc/{}", owner.pid)).exists() {
        return Some(format!("process {} is not running", owner.pid));
    }
    if let (Some(theirs), Some(ours)) = (&owner.boot, &me.boot) {
        if theirs != ours {
            return Some(format!(
                "it was written before the last reboot (pid {})",
                owner.pid
            ));
        }
    }
    if let (Some(theirs), Some(now)) = (owner.start, start_ticks(owner.pid)) {
        if theirs != now {
            return Some(format!(
                "pid {} now belongs to a process started later",
                owner.pid
            ));
        }
    }
    None
}

/// Held for as long as the spool is open; removes the lock file on drop.
#[derive(Debug)]
pub struct LockFile {
    path: PathBuf,
    dir: PathBuf,
    content: String,
}

impl LockFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn acquire(dir: &Path) -> Result<LockFile, SpoolError> {
    let dir =
        fs::canonicalize(dir).map_err(|e| SpoolError::io("resolve spool directory", dir, e))?;
    let path = dir.join(FILE);
    let me = Owner::current();
    // Held across the whole attempt so two threads cannot both get in.
    let mut held = held();
    if held.contains(&path) {
        return Err(SpoolError::AlreadyOpen {
            dir,
            path,
            pid: me.pid,
        });
    }
    let content = me.to_file();
    // A few rounds: each stale lock removed may be re-created by a rival.
    for _ in 0..3 {
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(content.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| SpoolError::io("write lock file", &path, e))?;
                sync_dir(&dir)?;
                held.push(path.clone());
                return Ok(LockFile { path, dir, content });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(SpoolError::io("create lock file", &path, e)),
        }
        let existing = match fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SpoolError::io("read lock file", &path, e)),
        };
        let owner = Owner::parse(&existing);
        let Some(reason) = stale_reason(owner.as_ref(), &me) else {
            let pid = owner.map_or(0, |o| o.pid);
            return Err(if Owner::parse(&existing).as_ref() == Some(&me) {
                // Our own lock, leaked without a drop (mem::forget).
                SpoolError::AlreadyOpen { dir, path, pid }
            } else {
                SpoolError::Locked { dir, path, pid }
            });
        };
        tracing::warn!(lock = %path.display(), %reason, "taking over stale spool lock");
        // Only delete what was judged stale, not a lock a rival took meanwhile.
        if fs::read_to_string(&path).ok().as_deref() == Some(existing.as_str()) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(SpoolError::io("delete stale lock file", &path, e)),
            }
        }
    }
    let pid = fs::read_to_string(&path)
        .ok()
        .and_then(|s| Owner::parse(&s))
        .map_or(0, |o| o.pid);
    Err(SpoolError::Locked { dir, path, pid })
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let mut held = held();
        held.retain(|p| p != &self.path);
        // Leave a lock alone that is no longer ours (taken over by someone
        // who judged us dead).
        if fs::read_to_string(&self.path).ok().as_deref() == Some(self.content.as_str()) {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::warn!(lock = %self.path.display(), error = %e, "could not remove spool lock file");
            } else {
                let _ = sync_dir(&self.dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_in_process_fails_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path()).unwrap();
        let text = fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text.lines().next().unwrap(), std::process::id().to_string());
        let err = acquire(dir.path()).unwrap_err();
        assert!(matches!(err, SpoolError::AlreadyOpen { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(FILE) && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        drop(lock);
        assert!(!dir.path().join(FILE).exists());
        drop(acquire(dir.path()).unwrap());
    }

    #[test]
    fn dead_pid_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        // Above any pid_max (at most 2^22), so no such process.
        fs::write(dir.path().join(FILE), "4000000000\n").unwrap();
        let lock = acquire(dir.path()).unwrap();
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(text.starts_with(&format!("{}\n", std::process::id())));
    }

    #[test]
    fn unreadable_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), "").unwrap();
        drop(acquire(dir.path()).unwrap());
    }

    #[test]
    fn same_pid_from_an_earlier_start_is_stale() {
        // A restarted container's gateway gets the crashed one's pid.
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current();
        if me.start.is_none() {
            return;
        }
        let earlier = Owner {
            start: me.start.map(|s| s.wrapping_sub(1)),
            ..me.clone()
        };
        fs::write(dir.path().join(FILE), earlier.to_file()).unwrap();
        drop(acquire(dir.path()).unwrap());
        let other_boot = Owner {
            boot: Some("not-this-boot".into()),
            ..me
        };
        fs::write(dir.path().join(FILE), other_boot.to_file()).unwrap();
        drop(acquire(dir.path()).unwrap());
    }

    #[test]
    fn live_process_keeps_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let owner = Owner {
            pid: child.id(),
            start: start_ticks(child.id()),
            boot: boot_id(),
        };
        fs::write(dir.path().join(FILE), owner.to_file()).unwrap();
        let err = acquire(dir.path()).unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        match &err {
            SpoolError::Locked { pid, path, .. } => {
                assert_eq!(*pid, child.id());
                assert!(path.ends_with(FILE));
            }
            other => panic!("{other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("process {}", child.id())) && msg.contains(FILE),
            "{msg}"
        );
        // Once it is gone the lock is stale.
        drop(acquire(dir.path()).unwrap());
    }

    #[test]
    fn owner_file_round_trip() {
        let o = Owner {
            pid: 12,
            start: Some(345),
            boot: Some("b-1".into()),
        };
        assert_eq!(Owner::parse(&o.to_file()), Some(o));
        assert_eq!(
            Owner::parse("77\n"),
            Some(Owner {
                pid: 77,
                start: None,
                boot: None
            })
        );
        assert_eq!(Owner::parse("x\n"), None);
    }
}
