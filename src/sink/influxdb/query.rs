//! A small InfluxQL client: `POST {url}/query?db=…&q=…&epoch=ms` against
//! InfluxDB 1.x, or InfluxDB 2.x's v1-compatible endpoint (the bucket is the
//! database, mapped by a DBRP; the token goes in the header). Used by tests
//! and by the KPI recompute.
//!
//! POST because InfluxQL allows writes (`CREATE DATABASE`, `SELECT … INTO`)
//! only over POST; reads work either way.
use std::collections::BTreeMap;

use reqwest::Url;
use serde::Deserialize;

use super::config::{build_http, describe, endpoint, read_body, Auth};
use super::retry::server_message;
use super::SetupError;
use crate::config::{Influx, InfluxTarget};

/// One series of a query result; timestamps are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Series {
    pub name: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub columns: Vec<String>,
    #[serde(default)]
    pub values: Vec<Vec<serde_json::Value>>,
}

impl Series {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The values of one column, row by row (Null where absent).
    pub fn column_values(&self, name: &str) -> Vec<serde_json::Value> {
        match self.column(name) {
            Some(i) => self
                .values
                .iter()
                .map(|r| r.get(i).cloned().unwrap_or(serde_json::Value::Null))
                .collect(),
            None => Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("InfluxDB query request failed: {0}")]
    Request(String),
    #[error("InfluxDB answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("InfluxDB could not run the query: {0}")]
    Statement(String),
    #[error("cannot read InfluxDB's query response: {0}")]
    Decode(String),
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<StatementResult>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct StatementResult {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    error: Option<String>,
}

/// Longest query response read: far beyond what tests and the KPI
/// recompute ask for, and a bound against a runaway `SELECT *`.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

pub struct QueryClient {
    http: reqwest::Client,
    url: Url,
    db: String,
    auth: Auth,
}

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("url", &self.url.as_str())
            .field("db", &self.db)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl QueryClient {
    /// Queries the configured database (v1) or bucket (v2).
    pub fn new(s: &Influx) -> Result<Self, SetupError> {
        let db = match &s.target {
            InfluxTarget::V1 { database, .. } => database.clone(),
            InfluxTarget::V2 { bucket, .. } => bucket.clone(),
        };
        Ok(QueryClient {
            http: build_http(s)?,
            url: endpoint(&s.url, "/query", &[])?,
            db,
            auth: Auth::from_target(&s.target)?,
        })
    }

    /// Same server and credentials, another database.
    pub fn with_database(mut self, db: impl Into<String>) -> Self {
        self.db = db.into();
        self
    }

    /// Runs `q` (one or more `;`-separated statements) and returns every
    /// series of every statement, in order. A statement error fails the
    /// whole call with the server's message.
    pub async fn query(&self, q: &str) -> Result<Vec<Series>, QueryError> {
        let mut url = self.url.clone();
        {
            let mut pairs = url.query_pairs_mut();
            if !self.db.is_empty() {
                pairs.append_pair("db", &self.db);
            }
            pairs.append_pair("q", q).append_pair("epoch", "ms");
        }
        let resp = self
            .auth
            .apply(self.http.post(url))
            .send()
            .await
            .map_err(|e| QueryError::Request(self.auth.redact(describe(e))))?;
        let status = resp.status();
        let body = read_body(resp, MAX_RESPONSE)
            .await
            .map_err(|e| QueryError::Request(self.auth.redact(e)))?;
        if !status.is_success() {
            return Err(QueryError::Status {
                status: status.as_u16(),
                message: self.auth.redact(server_message(&body)),
            });
        }
        let parsed: Response =
            serde_json::from_slice(&body).map_err(|e| QueryError::Decode(e.to_string()))?;
        if let Some(e) = parsed.error {
            return Err(QueryError::Statement(self.auth.redact(e)));
        }
        let mut out = Vec::new();
        for r in parsed.results {
            if let Some(e) = r.error {
                return Err(QueryError::Statement(self.auth.redact(e)));
            }
            out.extend(r.series);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_influxdb_1_responses() {
        let body = br#"{"results":[{"statement_id":0,"series":[{"name":"ball_mill","tags":{"plc":"grinding"},
            "columns":["time","power_kw","running"],"values":[[1700000000000,412.5,true],[1700000001000,null,false]]}]}]}"#;
        let r: Response = serde_json::from_slice(body).unwrap();
        let s = &r.results[0].series[0];
        assert_eq!(s.name, "ball_mill");
        assert_eq!(s.tags["plc"], "grinding");
        assert_eq!(s.column("running"), Some(2));
        assert_eq!(
            s.column_values("power_kw"),
            vec![serde_json::json!(412.5), serde_json::Value::Null]
        );
        assert!(s.column_values("nope").is_empty());
        let err: Response = serde_json::from_slice(
            br#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            err.results[0].error.as_deref(),
            Some("database not found: x")
        );
    }
}
