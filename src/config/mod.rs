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
    let env = overrides_in(env);
    let mut plc = Vec::new();
    match streamed(path, &env, |p| plc.push(p))? {
        Some(mut raw) => {
            raw.plc = plc;
            Ok(raw)
        }
        None => whole(path, &env),
    }
}

/// The `PLANTGW_` variables. They can name section keys only (a variable
/// cannot index the `[[plc]]` list), so they apply to the file's head alone.
type Env = config::Map<String, String>;

/// Reads `path` one `[[plc]]` at a time ([`pieces`]), handing each PLC to
/// `plc` as soon as it is parsed, and returns every other section with the
/// overrides applied (and no PLC). `None` when the file must be parsed
/// whole, for the answer or the exact error ([`whole`]); the PLCs handed
/// over until then are to be thrown away.
fn streamed(
    path: &Path,
    env: &Env,
    plc: impl FnMut(raw::PlcConfig),
) -> Result<Option<RawConfig>, ConfigError> {
    let read_error = |source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let Some(head) = pieces::read(std::io::BufReader::new(file), plc).map_err(read_error)? else {
        return Ok(None);
    };
    if env.is_empty() {
        return Ok(Some(head.raw));
    }
    env_fits(path, &head.raw, env)?;
    drop(head.raw);
    // The head's positions are not the file's: the whole file gives the
    // error at its line.
    let Ok(sections) = toml::from_str::<overrides::Sections>(&head.text) else {
        return Ok(None);
    };
    layered(path, &sections.to_toml(), env).map(Some)
}

/// The whole file parsed at once: its tree costs some 30 times its size,
/// but it is needed only when the file cannot be cut, or has an error.
fn whole(path: &Path, env: &Env) -> Result<RawConfig, ConfigError> {
    let text = read(path)?;
    let parse_error = |e| ConfigError::Parse {
        file: path.to_path_buf(),
        diagnosis: diagnose::toml_error(&text, &e),
    };
    let mut parsed = toml::from_str::<RawConfig>(&text).map_err(parse_error)?;
    if env.is_empty() {
        return Ok(parsed);
    }
    env_fits(path, &parsed, env)?;
    // The layered loader sees the file without its tag list, which is put
    // back afterwards.
    let plc = std::mem::take(&mut parsed.plc);
    drop(parsed);
    let sections = toml::from_str::<overrides::Sections>(&text).map_err(parse_error)?;
    let mut raw: RawConfig = layered(path, &sections.to_toml(), env)?;
    raw.plc = plc;
    Ok(raw)
}

/// A NATS-only gateway beside a service environment written for InfluxDB:
/// say which variable, not only that `url` is missing.
fn env_fits(path: &Path, parsed: &RawConfig, env: &Env) -> Result<(), ConfigError> {
    if parsed.influxdb.is_some() {
        return Ok(());
    }
    match env.keys().find(|k| k.starts_with("PLANTGW_INFLUXDB__")) {
        Some(var) => Err(ConfigError::Env {
            file: path.to_path_buf(),
            var: Some(var.clone()),
            key: Some("influxdb".into()),
            reason: "sets a key of [influxdb], which this file does not have; \
                     remove the variable, or add the section"
                .into(),
        }),
        None => Ok(()),
    }
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
    layered(path, &text, &env)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })
}

fn overrides_in(env: impl IntoIterator<Item = (String, String)>) -> Env {
    env.into_iter()
        .filter(|(k, _)| k.starts_with("PLANTGW_"))
        .collect()
}

/// `text` with the `PLANTGW_` overrides in `env` layered over it.
fn layered<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    env: &Env,
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
                .source(Some(env.clone())),
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
    crate::memory::while_loading(|| load_validated(path))
}

/// One raw PLC at a time: each is validated as soon as it is read, and
/// dropped, so the raw form of the whole plant never exists at once.
fn load_validated(path: &Path) -> Result<Settings, ConfigError> {
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let env = overrides_in(std::env::vars());
    let mut plcs = validate::PlcValidator::default();
    let settings = match streamed(path, &env, |p| plcs.push(&p))? {
        Some(head) => validate::validate_with(&head, plcs, base),
        None => {
            drop(plcs);
            validate(&whole(path, &env)?, base)
        }
    };
    settings.map_err(|issues| ConfigError::Invalid {
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
