//! Reading an I/O list: CSV rows to tags, each row checked with the
//! gateway's own configuration validation and every problem tied to its
//! line and column.
use std::collections::HashMap;
use std::path::Path;

use super::{
    csv, render_toml, tags_toml, toml_string, PlcTags, RowError, TagsError, COLUMNS, REQUIRED,
};
use crate::config::{self, ByteOrder, DataType, RawConfig, Table, TagConfig};

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
                // Scan classes are set in the config, not the tag sheet.
                scan_ms: None,
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
