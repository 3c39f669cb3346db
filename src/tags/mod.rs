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

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::TagsCommand;
use crate::config::{self, ByteOrder, ConfigError, DataType, RawConfig, Table, TagConfig};

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

/// Reads an I/O list. `file` names it in errors.
pub fn import_csv(text: &str, file: &str) -> Result<Vec<PlcTags>, TagsError> {
    let delimiter = csv::detect_delimiter(text);
    let records = csv::parse(text, delimiter).map_err(|source| TagsError::Csv {
        file: file.to_string(),
        source,
    })?;
    let rows_err = |errors: Vec<RowError>| TagsError::Rows {
        file: file.to_string(),
        errors,
    };
    let Some((header, rows)) = records.split_first() else {
        return Err(rows_err(vec![RowError {
            line: 1,
            column: None,
            reason: format!(
                "the file is empty; expected a header row with the columns {}",
                COLUMNS[..REQUIRED].join(", ")
            ),
        }]));
    };
    let columns = read_header(header).map_err(rows_err)?;
    let mut errors = Vec::new();
    let mut plcs: Vec<PlcTags> = Vec::new();
    for rec in rows {
        // Spreadsheets export blank separator rows as a run of commas.
        if rec.fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if rec.fields.len() > columns.len() {
            errors.push(RowError {
                line: rec.line,
                column: None,
                reason: format!(
                    "{} cells, but the header has {} columns",
                    rec.fields.len(),
                    columns.len()
                ),
            });
            continue;
        }
        let mut cells: HashMap<&str, &str> = HashMap::new();
        for (name, value) in columns.iter().zip(&rec.fields) {
            cells.insert(name, value.trim());
        }
        let mut row = RowReader {
            line: rec.line,
            cells,
            decimal_comma: delimiter == ';',
            errors: &mut errors,
        };
        let Some((plc, tag)) = row.tag() else {
            continue;
        };
        match plcs.iter_mut().find(|p| p.plc == plc) {
            Some(p) => {
                p.tags.push(tag);
                p.lines.push(rec.line);
            }
            None => plcs.push(PlcTags {
                plc,
                tags: vec![tag],
                lines: vec![rec.line],
            }),
        }
    }
    if rows.is_empty() || (plcs.is_empty() && errors.is_empty()) {
        errors.push(RowError {
            line: header.line,
            column: None,
            reason: "no tag rows below the header".into(),
        });
    }
    errors.extend(validate(&plcs)?);
    if errors.is_empty() {
        Ok(plcs)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(rows_err(errors))
    }
}

/// Column names in file order; unknown and duplicate columns are errors
/// (a misspelt `dedband` column must not be silently ignored).
fn read_header(header: &csv::Record) -> Result<Vec<String>, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut columns = Vec::with_capacity(header.fields.len());
    for raw in &header.fields {
        let name = raw.trim().to_lowercase().replace(' ', "_");
        if !COLUMNS.contains(&name.as_str()) {
            errors.push(RowError {
                line: header.line,
                column: Some(raw.trim().to_string()),
                reason: format!("unknown column (known: {})", COLUMNS.join(", ")),
            });
        } else if columns.contains(&name) {
            errors.push(RowError {
                line: header.line,
                column: Some(name.clone()),
                reason: "appears twice in the header".into(),
            });
        }
        columns.push(name);
    }
    for required in &COLUMNS[..REQUIRED] {
        if !columns.iter().any(|c| c == required) {
            errors.push(RowError {
                line: header.line,
                column: Some((*required).to_string()),
                reason: "required column is missing from the header".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

/// Reads one row's cells into a [`TagConfig`], collecting every problem.
struct RowReader<'a, 'e> {
    line: usize,
    cells: HashMap<&'a str, &'a str>,
    decimal_comma: bool,
    errors: &'e mut Vec<RowError>,
}

impl RowReader<'_, '_> {
    fn cell(&self, column: &str) -> &str {
        self.cells.get(column).copied().unwrap_or("")
    }

    fn error(&mut self, column: &str, reason: String) {
        self.errors.push(RowError {
            line: self.line,
            column: Some(column.to_string()),
            reason,
        });
    }

    fn text(&mut self, column: &str) -> Option<String> {
        let v = self.cell(column);
        (!v.is_empty()).then(|| v.to_string())
    }

    fn required(&mut self, column: &str) -> Option<String> {
        let v = self.text(column);
        if v.is_none() {
            self.error(column, "must not be empty".into());
        }
        v
    }

    fn one_of<T: Copy>(&mut self, column: &str, options: &[(T, &str)], upper: bool) -> Option<T> {
        let v = self.cell(column).to_string();
        if v.is_empty() {
            self.error(column, "must not be empty".into());
            return None;
        }
        let norm = if upper {
            v.to_uppercase()
        } else {
            v.to_lowercase()
        };
        match options.iter().find(|(_, s)| *s == norm) {
            Some((t, _)) => Some(*t),
            None => {
                let names: Vec<&str> = options.iter().map(|(_, s)| *s).collect();
                self.error(column, format!("{v:?} is not one of {}", names.join(", ")));
                None
            }
        }
    }

    /// An optional integer; `Err(())` after recording the problem.
    fn int<T: std::str::FromStr>(&mut self, column: &str, range: &str) -> Result<Option<T>, ()> {
        let v = self.cell(column).to_string();
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<T>() {
            Ok(n) => Ok(Some(n)),
            Err(_) => {
                self.error(column, format!("{v:?} is not a whole number in {range}"));
                Err(())
            }
        }
    }

    fn float(&mut self, column: &str) -> Result<Option<f64>, ()> {
        let v = self.cell(column).to_string();
        if v.is_empty() {
            return Ok(None);
        }
        // With `;` separators the spreadsheet wrote decimal commas: 0,01.
        let spelled = if self.decimal_comma && !v.contains('.') {
            v.replacen(',', ".", 1)
        } else {
            v.clone()
        };
        match spelled.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(n)),
            _ => {
                self.error(column, format!("{v:?} is not a finite number"));
                Err(())
            }
        }
    }

    fn tag(&mut self) -> Option<(String, TagConfig)> {
        let before = self.errors.len();
        let plc = self.required("plc");
        let equipment = self.required("equipment");
        let name = self.required("name");
        let tables: Vec<(Table, &str)> = Table::ALL.iter().map(|t| (*t, t.as_str())).collect();
        let table = self.one_of("table", &tables, false);
        let address = match self.cell("address") {
            "" => {
                self.error("address", "must not be empty".into());
                None
            }
            _ => self
                .int::<u16>("address", "0–65535 (0-based protocol address)")
                .ok()
                .flatten(),
        };
        let types: Vec<(DataType, &str)> = DataType::ALL.iter().map(|t| (*t, t.as_str())).collect();
        let data_type = self.one_of("type", &types, false);
        let order = match self.cell("order") {
            "" => None,
            _ => {
                let orders: Vec<(ByteOrder, &str)> =
                    ByteOrder::ALL.iter().map(|o| (*o, o.as_str())).collect();
                self.one_of("order", &orders, true)
            }
        };
        let bit = self.int::<u8>("bit", "0–15");
        let length = self.int::<u16>("length", "1–125 registers");
        let max_interval_ms = self.int::<u64>("max_interval_ms", "milliseconds");
        let scale = self.float("scale");
        let offset = self.float("offset");
        let min = self.float("min");
        let max = self.float("max");
        let deadband = self.float("deadband");
        let unit = self.text("unit");
        let description = self.text("description");
        if self.errors.len() > before {
            return None;
        }
        Some((
            plc?,
            TagConfig {
                name: name?,
                equipment: equipment?,
                table: table?,
                address: address?,
                data_type: data_type?,
                order,
                bit: bit.ok()?,
                length: length.ok()?,
                scale: scale.ok()?.unwrap_or(1.0),
                offset: offset.ok()?.unwrap_or(0.0),
                unit,
                description,
                deadband: deadband.ok()?,
                max_interval_ms: max_interval_ms.ok()?,
                min: min.ok()?,
                max: max.ok()?,
            },
        ))
    }
}

/// Runs the gateway's configuration validation on the generated TOML itself
/// (each group under a stand-in `[[plc]]` table) and maps every issue back
/// to its row and column.
fn validate(plcs: &[PlcTags]) -> Result<Vec<RowError>, TagsError> {
    if plcs.is_empty() {
        return Ok(Vec::new());
    }
    let mut text = String::from(
        "[site]\nname = \"import\"\n\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\ndatabase = \"import\"\n\n",
    );
    for p in plcs {
        text.push_str(&format!(
            "[[plc]]\nname = {}\narea = \"import\"\naddress = \"127.0.0.1:502\"\n\n",
            toml_string(&p.plc)
        ));
        text.push_str(&tags_toml(&p.tags)?);
    }
    let raw: RawConfig = toml::from_str(&text).map_err(|e| TagsError::Toml(e.to_string()))?;
    let issues = match config::validate(&raw, Path::new(".")) {
        Ok(_) => return Ok(Vec::new()),
        Err(issues) => issues,
    };
    Ok(issues
        .into_iter()
        .map(|issue| {
            let reason = cite_lines(plcs, &issue.reason);
            locate(plcs, &issue.key, reason)
        })
        .collect())
}

/// Reasons cite other tags by config key (`plc[0].tag[3]`), which mean
/// nothing in a spreadsheet: cite their lines instead.
fn cite_lines(plcs: &[PlcTags], reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut rest = reason;
    while let Some(i) = rest.find("plc[") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let parsed = (|| {
            let (p, after) = tail.strip_prefix("plc[")?.split_once(']')?;
            let (t, after) = after.strip_prefix(".tag[")?.split_once(']')?;
            let line = plcs
                .get(p.parse::<usize>().ok()?)?
                .lines
                .get(t.parse::<usize>().ok()?)?;
            Some((format!("line {line}"), after))
        })();
        match parsed {
            Some((cite, after)) => {
                out.push_str(&cite);
                rest = after;
            }
            None => {
                out.push_str("plc[");
                rest = &tail[4..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `plc[1].tag[3].bit` → the line of PLC 1's fourth row, column `bit`.
fn locate(plcs: &[PlcTags], key: &str, reason: String) -> RowError {
    let index = |s: &str, prefix: &str| -> Option<(usize, String)> {
        let rest = s.strip_prefix(prefix)?;
        let (n, rest) = rest.split_once(']')?;
        Some((n.parse().ok()?, rest.to_string()))
    };
    let Some((p, rest)) = index(key, "plc[") else {
        return RowError {
            line: 1,
            column: None,
            reason: format!("{key}: {reason}"),
        };
    };
    let first = plcs
        .get(p)
        .and_then(|g| g.lines.first().copied())
        .unwrap_or(1);
    if let Some((t, field)) = index(&rest, ".tag[") {
        let line = plcs
            .get(p)
            .and_then(|g| g.lines.get(t).copied())
            .unwrap_or(first);
        let column = field.strip_prefix('.').map(str::to_string);
        return RowError {
            line,
            column,
            reason,
        };
    }
    RowError {
        line: first,
        column: (rest == ".name").then(|| "plc".to_string()),
        reason,
    }
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

/// `plantgw tags import`: reads `csv_path`, returns the TOML text.
pub fn import_file(csv_path: &Path) -> Result<(String, usize), TagsError> {
    let text = std::fs::read_to_string(csv_path).map_err(|source| TagsError::Read {
        path: csv_path.to_path_buf(),
        source,
    })?;
    let name = csv_path.display().to_string();
    let plcs = import_csv(&text, &name)?;
    let total = plcs.iter().map(|p| p.tags.len()).sum();
    Ok((render_toml(&plcs, &name)?, total))
}

/// Writes `text` to `out`, or to stdout when `out` is None.
pub fn emit(text: &str, out: Option<&Path>) -> Result<(), TagsError> {
    match out {
        Some(path) => std::fs::write(path, text).map_err(|source| TagsError::Write {
            path: path.to_path_buf(),
            source,
        }),
        None => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|source| TagsError::Write {
                    path: PathBuf::from("<stdout>"),
                    source,
                })
        }
    }
}

/// `plantgw tags …`. Exit status: 0 done; 2 bad input, with every problem
/// printed as `file:line: column c: reason`; 1 the output could not be written.
pub fn cli(cmd: &TagsCommand) -> ExitCode {
    let result = match cmd {
        TagsCommand::Import { csv, out } => import_file(csv).and_then(|(text, n)| {
            emit(&text, out.as_deref())?;
            if let Some(path) = out {
                eprintln!("{n} tags written to {}", path.display());
            }
            Ok(())
        }),
        TagsCommand::Export { config, out } => {
            export_config(&config.config).and_then(|text| emit(&text, out.as_deref()))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ TagsError::Write { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(TagsError::Rows { file, errors }) => {
            // One problem per line, `file:line:` first, as editors expect.
            eprintln!("{}", Rows(&file, &errors));
            eprintln!(
                "error: {file}: {} problem{} in the I/O list; nothing written",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests;
