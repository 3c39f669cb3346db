//! Configuration: the TOML file users write (DESIGN §4), environment
//! overrides (`PLANTGW_INFLUXDB__TOKEN`), and validation into [`Settings`].
//!
//! Flow: [`load`] reads file + env into [`RawConfig`] (serde rejects unknown
//! keys and bad types), then [`validate()`] checks meaning and builds the
//! settings. Every error names the file, the key and the reason, and never
//! the value of a secret or of an unknown key ([`diagnose`]).
mod diagnose;
mod kpi_inputs;
pub mod names;
mod overrides;
mod pieces;
mod raw;
mod raw_nats;
mod secret;
mod settings;
mod settings_nats;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diagnose::Diagnosis;
pub use kpi_inputs::{InputRole, InputSpec, KpiInput, Need, RecoveryUse, KPI_INPUTS};
pub use raw::RelayRawConfig;
pub use raw::{ByteOrder, DataType, InfluxApi, RawConfig, Table, TagConfig};
pub use raw_nats::NatsConfig;
pub use secret::Secret;
pub use settings::*;
pub use settings_nats::{Nats, NatsAuth, NatsConn, RelayNats};
pub use validate::{validate, validate_relay, Issue};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax, unknown key or wrong type in the file.
    #[error("{}", Located(file, diagnosis))]
    Parse { file: PathBuf, diagnosis: Diagnosis },
    /// A `PLANTGW_` environment override that does not fit the schema.
    #[error(
        "{file}: environment override {}{}: {reason}",
        var.as_deref().unwrap_or("PLANTGW_*"),
        key.as_ref().map(|k| format!(" ({k})")).unwrap_or_default()
    )]
    Env {
        file: PathBuf,
        /// The variable and the key, when they can be told from the error.
        var: Option<String>,
        key: Option<String>,
        reason: String,
    },
    #[error("{}", Invalid(file, issues))]
    Invalid { file: PathBuf, issues: Vec<Issue> },
}

struct Located<'a>(&'a Path, &'a Diagnosis);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Located(file, d) = self;
        write!(f, "{}", file.display())?;
        if let Some((line, column)) = d.at {
            write!(f, ":{line}:{column}")?;
        }
        if let Some(key) = &d.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", d.reason)
    }
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
    let text = read(path)?;
    // Piece by piece when the file allows, so no tree of the whole tag list
    // is built; otherwise (or for the exact error) the whole file at once.
    let pieces = pieces::split(&text);
    // `sections`: the text that holds every section but the tag list.
    let (mut parsed, sections) = match pieces.parse() {
        Some(raw) => (raw, pieces.head.as_str()),
        None => {
            let raw = toml::from_str::<RawConfig>(&text).map_err(|e| ConfigError::Parse {
                file: path.to_path_buf(),
                diagnosis: diagnose::toml_error(&text, &e),
            })?;
            (raw, text.as_str())
        }
    };
    let env = overrides_in(env);
    if env.is_empty() {
        return Ok(parsed);
    }
    if parsed.influxdb.is_none() {
        // A NATS-only gateway beside a service environment written for
        // InfluxDB: say which variable, not only that `url` is missing.
        if let Some(var) = env.keys().find(|k| k.starts_with("PLANTGW_INFLUXDB__")) {
            return Err(ConfigError::Env {
                file: path.to_path_buf(),
                var: Some(var.clone()),
                key: Some("influxdb".into()),
                reason: "sets a key of [influxdb], which this file does not have; \
                         remove the variable, or add the section"
                    .into(),
            });
        }
    }
    // Overrides can name section keys only (an environment variable cannot
    // index the `[[plc]]` list), so the layered loader sees the file
    // without its tag list and the parsed list is put back afterwards.
    let plc = std::mem::take(&mut parsed.plc);
    drop(parsed);
    let sections = match toml::from_str::<overrides::Sections>(sections) {
        Ok(s) => s.to_toml(),
        // The head's positions are not the file's: the whole file gives
        // the error at its line.
        Err(_) => toml::from_str::<overrides::Sections>(&text)
            .map_err(|e| ConfigError::Parse {
                file: path.to_path_buf(),
                diagnosis: diagnose::toml_error(&text, &e),
            })?
            .to_toml(),
    };
    let mut raw: RawConfig = layered(path, &sections, env)?;
    raw.plc = plc;
    Ok(raw)
}

/// A small file of another schema (a relay's), with the same overrides.
fn load_raw_as<T: serde::de::DeserializeOwned>(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let text = read(path)?;
    // The file alone first: the toml parser's errors carry line and
    // column, which the layered loader loses.
    let parsed = toml::from_str::<T>(&text).map_err(|e| ConfigError::Parse {
        file: path.to_path_buf(),
        diagnosis: diagnose::toml_error(&text, &e),
    })?;
    let env = overrides_in(env);
    if env.is_empty() {
        return Ok(parsed);
    }
    layered(path, &text, env)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })
}

fn overrides_in(env: impl IntoIterator<Item = (String, String)>) -> config::Map<String, String> {
    env.into_iter()
        .filter(|(k, _)| k.starts_with("PLANTGW_"))
        .collect()
}

/// `text` with the `PLANTGW_` overrides in `env` layered over it.
fn layered<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    env: config::Map<String, String>,
) -> Result<T, ConfigError> {
    let names: Vec<String> = env.keys().cloned().collect();
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("PLANTGW")
                .separator("__")
                .prefix_separator("_")
                // Values stay strings: a password "0123" must not become
                // the number 123. Numeric keys parse the string themselves.
                .try_parsing(false)
                .source(Some(env)),
        )
        .build()
        .and_then(|c| c.try_deserialize::<T>())
        .map_err(|e| {
            let (var, key, reason) = diagnose::env_error(&e, &names);
            ConfigError::Env {
                file: path.to_path_buf(),
                var,
                key,
                reason,
            }
        })
}

/// Load and validate: the one call `run` and `check` make. The memory the
/// load used for a moment goes back to the system before it returns.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let settings = load_validated(path);
    crate::memory::release_freed();
    settings
}

fn load_validated(path: &Path) -> Result<Settings, ConfigError> {
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

/// Load and validate a relay's file (`plantgw relay`).
pub fn load_relay(path: &Path) -> Result<RelaySettings, ConfigError> {
    let raw: RelayRawConfig = load_raw_as(path, std::env::vars())?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    validate_relay(&raw, base).map_err(|issues| ConfigError::Invalid {
        file: path.to_path_buf(),
        issues,
    })
}

#[cfg(test)]
mod tests;
