//! `plantgw tags`: the plant's I/O list (a spreadsheet exported as CSV) to
//! `[[plc.tag]]` configuration and back.
//!
//! - [`import_csv`] reads the list, one tag per row, and checks every row
//!   with the gateway's own configuration validation, so what it accepts
//!   `plantgw run` accepts too; every problem is reported with its line.
//! - [`render_toml`] prints the tags grouped by PLC. Each group starts with a
//!   `# plc = "name"` comment and holds only `[[plc.tag]]` tables: TOML adds
//!   `[[plc.tag]]` tables to the `[[plc]]` table above them, so a group pasted
//!   under its PLC's `[[plc]]` table (name, area, address, …) is valid
//!   configuration as it stands. PLC connection settings are not in an I/O
//!   list, so the import does not invent them.
//! - [`export_csv`] writes a configuration's tags as the same CSV.
//!   `export(import(csv))` reproduces the list up to normalisation (column
//!   order, number spelling, letter case of enumerations, `;` → `,`).
pub mod csv;
mod import;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{self, ByteOrder, ConfigError, TagConfig};

pub use import::{import_csv, import_file};

/// Every column, in the order `export` writes them. The first six are
/// required on import; the rest may be absent (then empty).
pub const COLUMNS: [&str; 17] = [
    "plc",
    "equipment",
    "name",
    "table",
    "address",
    "type",
    "order",
    "scale",
    "offset",
    "unit",
    "description",
    "bit",
    "length",
    "min",
    "max",
    "deadband",
    "max_interval_ms",
];
const REQUIRED: usize = 6;

/// One problem in an I/O list, at a line and (when known) a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub column: Option<String>,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TagsError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{}: {}", source.line, source.reason)]
    Csv {
        file: String,
        #[source]
        source: csv::CsvError,
    },
    /// Every row problem found, one `file:line: column c: reason` per line.
    #[error("{}", Rows(file, errors))]
    Rows { file: String, errors: Vec<RowError> },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Serialising or re-reading the generated TOML failed: a bug, reported
    /// rather than printed as half-valid configuration.
    #[error("generated TOML is not valid configuration: {0}")]
    Toml(String),
}

struct Rows<'a>(&'a str, &'a [RowError]);

impl fmt::Display for Rows<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{}: ", self.0, e.line)?;
            if let Some(c) = &e.column {
                write!(f, "column {c}: ")?;
            }
            f.write_str(&e.reason)?;
        }
        Ok(())
    }
}

/// The tags of one PLC, in list order, with the line each came from.
#[derive(Debug, Clone)]
pub struct PlcTags {
    pub plc: String,
    pub tags: Vec<TagConfig>,
    pub lines: Vec<usize>,
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `[[plc.tag]]` tables, keys in the configuration reference's order, with
/// the defaults `scale = 1.0` and `offset = 0.0` left out as a person would.
fn tags_toml(tags: &[TagConfig]) -> Result<String, TagsError> {
    let mut out = String::new();
    for t in tags {
        // Serialising the struct (not a map) keeps its field order.
        let body = toml::to_string(t).map_err(|e| TagsError::Toml(e.to_string()))?;
        out.push_str("[[plc.tag]]\n");
        for line in body.lines() {
            if line == "scale = 1.0" || line == "offset = 0.0" {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

/// The import's output: per PLC, a `# plc = "name"` comment and its
/// `[[plc.tag]]` tables.
pub fn render_toml(plcs: &[PlcTags], source: &str) -> Result<String, TagsError> {
    let total: usize = plcs.iter().map(|p| p.tags.len()).sum();
    let mut out = format!(
        "# {total} tags of {} PLC{} imported from {source} by `plantgw tags import`.\n\
         # Paste each group below under the [[plc]] table (name, area, address, …)\n\
         # of the PLC its heading names: TOML adds [[plc.tag]] tables to the\n\
         # [[plc]] table above them.\n\n",
        plcs.len(),
        if plcs.len() == 1 { "" } else { "s" }
    );
    for p in plcs {
        let n = p.tags.len();
        out.push_str(&format!(
            "# plc = {} ({n} tag{})\n\n",
            toml_string(&p.plc),
            if n == 1 { "" } else { "s" }
        ));
        out.push_str(&tags_toml(&p.tags)?);
    }
    Ok(out)
}

fn num(v: f64) -> String {
    // Display prints the shortest text that reads back as the same f64.
    format!("{v}")
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Every tag of every PLC as CSV, one row per tag, all [`COLUMNS`].
pub fn export_csv<'a>(plcs: impl IntoIterator<Item = (&'a str, &'a [TagConfig])>) -> String {
    let mut out = String::new();
    csv::write_record(&mut out, &COLUMNS);
    for (plc, tags) in plcs {
        for t in tags {
            let order = t.order.map_or("", ByteOrder::as_str);
            csv::write_record(
                &mut out,
                &[
                    plc.to_string(),
                    t.equipment.clone(),
                    t.name.clone(),
                    t.table.as_str().to_string(),
                    t.address.to_string(),
                    t.data_type.as_str().to_string(),
                    order.to_string(),
                    num(t.scale),
                    num(t.offset),
                    opt(&t.unit),
                    opt(&t.description),
                    opt(&t.bit),
                    opt(&t.length),
                    t.min.map(num).unwrap_or_default(),
                    t.max.map(num).unwrap_or_default(),
                    t.deadband.map(num).unwrap_or_default(),
                    opt(&t.max_interval_ms),
                ],
            );
        }
    }
    out
}

/// The tags of a configuration file as CSV. Only the file's syntax and keys
/// are checked (not its secrets or paths), so a production config exports
/// on any machine.
pub fn export_config(path: &Path) -> Result<String, TagsError> {
    let raw = config::load_raw(path)?;
    Ok(export_csv(
        raw.plc.iter().map(|p| (p.name.as_str(), p.tag.as_slice())),
    ))
}

#[cfg(test)]
mod tests;
