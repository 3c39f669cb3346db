//! Configuration: the TOML file users write (DESIGN §4), environment
//! overrides (`PLANTGW_INFLUXDB__TOKEN`), and validation into [`Settings`].
//!
//! Flow: [`load`] reads file + env into [`RawConfig`] (serde rejects unknown
//! keys and bad types), then [`validate()`] checks meaning and builds the
//! settings. Every error names the file, the key and the reason.
mod raw;
mod secret;
mod settings;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use raw::{ByteOrder, DataType, InfluxApi, RawConfig, Table, TagConfig};
pub use secret::Secret;
pub use settings::*;
pub use validate::{validate, Issue};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, unknown key or wrong type, as reported by the parser.
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{}", Invalid(file, issues))]
    Invalid { file: PathBuf, issues: Vec<Issue> },
}

struct Invalid<'a>(&'a Path, &'a [Issue]);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.1.len();
        write!(
            f,
            "{}: {n} error{} in configuration",
            self.0.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for i in self.1 {
            write!(f, "\n  {}: {}: {}", self.0.display(), i.key, i.reason)?;
        }
        Ok(())
    }
}

/// Reads `path` and `PLANTGW_*` environment overrides into the raw config.
pub fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    load_raw_with_env(path, std::env::vars())
}

/// As [`load_raw`], with the environment given explicitly (tests).
pub fn load_raw_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    // Check the file alone first with the toml parser: its errors carry line
    // and column, which the layered loader below loses.
    if let Err(e) = toml::from_str::<RawConfig>(&text) {
        return Err(ConfigError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        });
    }
    let env: config::Map<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("PLANTGW_"))
        .collect();
    let built = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("PLANTGW")
                .separator("__")
                .prefix_separator("_")
                .try_parsing(true)
                .source(Some(env)),
        )
        .build()
        .and_then(|c| c.try_deserialize::<RawConfig>());
    built.map_err(|e| ConfigError::Parse {
        file: path.to_path_buf(),
        message: format!("{e} (after applying PLANTGW_ environment overrides)"),
    })
}

/// Load and validate: the one call `run` and `check` make.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let raw = load_raw(path)?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    validate(&raw, base).map_err(|issues| ConfigError::Invalid {
        file: path.to_path_buf(),
        issues,
    })
}

#[cfg(test)]
mod tests;
