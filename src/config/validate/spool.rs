//! `[spool]`: where undelivered data waits, and how much of it may.
use std::path::Path;

use super::{resolve, Issues};
use crate::config::raw::SpoolConfig;
use crate::config::settings::Spool;

/// A spool smaller than a few batches cannot hold an outage worth surviving.
const MIN_BYTES: u64 = 1 << 20;

pub(super) fn validate(c: &SpoolConfig, base: &Path, issues: &mut Issues) -> Option<Spool> {
    if c.max_bytes < MIN_BYTES {
        issues.add(
            "spool.max_bytes",
            format!("{} is below the 1 MiB minimum", c.max_bytes),
        );
        return None;
    }
    Some(Spool {
        dir: resolve(base, &c.dir),
        max_bytes: c.max_bytes,
    })
}
