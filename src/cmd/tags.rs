//! `plantgw tags …`. Exit status: 0 done; 2 bad input, with every problem
//! printed as `file:line: column c: reason`; 1 the output could not be written.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plantgw::tags::{export_config, import_file, TagsError};

use super::cli::TagsCommand;
use super::USAGE;

pub fn run(cmd: &TagsCommand) -> ExitCode {
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
            let n = errors.len();
            // One problem per line, `file:line:` first, as editors expect.
            eprintln!(
                "{}",
                TagsError::Rows {
                    file: file.clone(),
                    errors
                }
            );
            eprintln!(
                "error: {file}: {n} problem{} in the I/O list; nothing written",
                if n == 1 { "" } else { "s" }
            );
            ExitCode::from(USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        }
    }
}

/// Writes `text` to `out`, or to stdout when `out` is None.
fn emit(text: &str, out: Option<&Path>) -> Result<(), TagsError> {
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
