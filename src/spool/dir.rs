//! Directory durability: a created, renamed or deleted file survives a
//! power cut only once its directory has been fsynced.
use std::fs::File;
use std::path::Path;

use super::SpoolError;

pub fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SpoolError::io("fsync directory", dir, e))
}
