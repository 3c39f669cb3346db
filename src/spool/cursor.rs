//! A cursor per sink: how far each sink has taken the spool. A record may
//! be deleted only when every sink's cursor has passed it, so a second
//! sink (NATS) reads the same records at its own pace.
//!
//! Each cursor is an ack file (see [`super::ack`]) of its own: `ack` for
//! [`DEFAULT_SINK`], the only sink before cursors existed, so spools
//! written by earlier versions open with their position intact; `ack.<sink>`
//! for any other. A sink without a file yet starts at the beginning of
//! what is spooled (at-least-once).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ack::{self, AckFile, Loaded};
use super::{events, SpoolError};

/// The sink whose position the plain `ack` file holds.
pub const DEFAULT_SINK: &str = "influxdb";

/// The cursor file of `sink`.
pub fn file_name(sink: &str) -> String {
    if sink == DEFAULT_SINK {
        ack::FILE.to_string()
    } else {
        format!("{}.{sink}", ack::FILE)
    }
}

#[derive(Debug)]
struct Cursor {
    acked: u64,
    file: AckFile,
}

/// The cursors of the sinks a spool serves.
#[derive(Debug)]
pub struct Cursors {
    dir: PathBuf,
    by_sink: BTreeMap<String, Cursor>,
}

impl Cursors {
    /// Opens (creating where missing) one cursor per sink in `dir`. An
    /// unreadable cursor starts at 0: delivering twice beats losing.
    pub fn open(dir: &Path, sinks: &[&str]) -> Result<Cursors, SpoolError> {
        let mut by_sink = BTreeMap::new();
        for &sink in sinks {
            let usable = !sink.is_empty()
                && sink
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !usable {
                return Err(SpoolError::BadSinkName {
                    dir: dir.to_path_buf(),
                    name: sink.to_string(),
                });
            }
            let name = file_name(sink);
            let (file, loaded) = AckFile::open_named(dir, &name)?;
            let acked = match loaded {
                Loaded::Missing => 0,
                Loaded::Acked(seq) => seq,
                Loaded::Corrupt(reason) => {
                    events::ack_file_unreadable(&dir.join(&name), &reason);
                    0
                }
            };
            by_sink.insert(sink.to_string(), Cursor { acked, file });
        }
        Ok(Cursors {
            dir: dir.to_path_buf(),
            by_sink,
        })
    }

    /// The highest seq `sink` has acknowledged.
    pub fn acked(&self, sink: &str) -> Option<u64> {
        self.by_sink.get(sink).map(|c| c.acked)
    }

    /// Durably moves `sink`'s cursor to `seq`; a cursor never moves back.
    pub fn advance(&mut self, sink: &str, seq: u64) -> Result<(), SpoolError> {
        let c = self
            .by_sink
            .get_mut(sink)
            .ok_or_else(|| SpoolError::UnknownSink {
                dir: self.dir.clone(),
                name: sink.to_string(),
            })?;
        if seq > c.acked {
            c.file.store(seq)?;
            c.acked = seq;
        }
        Ok(())
    }

    /// Every record up to here has been passed by every cursor and may be
    /// deleted.
    pub fn floor(&self) -> u64 {
        self.by_sink.values().map(|c| c.acked).min().unwrap_or(0)
    }

    /// The furthest any cursor has gone.
    pub fn ceiling(&self) -> u64 {
        self.by_sink.values().map(|c| c.acked).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_sink_keeps_the_ack_file_of_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let (mut old, _) = AckFile::open(dir.path()).unwrap();
        old.store(41).unwrap();
        drop(old);
        let c = Cursors::open(dir.path(), &[DEFAULT_SINK, "nats"]).unwrap();
        assert_eq!(c.acked(DEFAULT_SINK), Some(41));
        assert_eq!(c.acked("nats"), Some(0));
        assert_eq!(c.floor(), 0);
        assert!(dir.path().join("ack.nats").exists());
    }

    #[test]
    fn unusable_and_unknown_sink_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "../x", "a.b", "a b"] {
            assert!(matches!(
                Cursors::open(dir.path(), &[bad]),
                Err(SpoolError::BadSinkName { .. })
            ));
        }
        let mut c = Cursors::open(dir.path(), &[DEFAULT_SINK]).unwrap();
        assert!(matches!(
            c.advance("nats", 1),
            Err(SpoolError::UnknownSink { .. })
        ));
    }

    proptest! {
        /// Two sinks acknowledging in any interleaving: the floor (what may
        /// be deleted) never passes a record one of them still needs, and
        /// each cursor survives a reopen.
        #[test]
        fn floor_is_the_slowest_cursor(steps in prop::collection::vec((any::<bool>(), 0u64..50), 1..40)) {
            let dir = tempfile::tempdir().unwrap();
            let sinks = [DEFAULT_SINK, "nats"];
            let mut c = Cursors::open(dir.path(), &sinks).unwrap();
            let mut model = [0u64; 2];
            for (which, seq) in steps {
                let i = usize::from(which);
                c.advance(sinks[i], seq).unwrap();
                model[i] = model[i].max(seq);
                prop_assert_eq!(c.acked(sinks[i]), Some(model[i]));
                prop_assert_eq!(c.floor(), model[0].min(model[1]));
                for (j, s) in sinks.iter().enumerate() {
                    // No record this sink still needs lies at or below the floor.
                    prop_assert!(c.floor() <= c.acked(s).unwrap() && c.acked(s) == Some(model[j]));
                }
            }
            drop(c);
            let c = Cursors::open(dir.path(), &sinks).unwrap();
            prop_assert_eq!(c.acked(DEFAULT_SINK), Some(model[0]));
            prop_assert_eq!(c.acked("nats"), Some(model[1]));
        }
    }
}
