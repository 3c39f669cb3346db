//! `GET /report?day=YYYY-MM-DD`: the daily report page (DESIGN §10), the
//! same page `plantgw report` writes; without `day`, the last closed day.
use std::sync::Arc;

use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use jiff::civil::Date;

use crate::config::{Kpi, Settings, Site};
use crate::report;
use crate::sink::influxdb::QueryClient;

/// What the page is read from: the configured InfluxDB and KPI calendar.
#[derive(Clone)]
pub struct ReportSource {
    query: Arc<QueryClient>,
    kpi: Kpi,
    site: Site,
}

impl ReportSource {
    /// Without a `[kpi]` section, or without `[influxdb]` to read from,
    /// `/report` answers 404 with the reason this gives.
    pub fn new(settings: &Settings) -> Result<ReportSource, String> {
        // The same order as `plantgw report`'s: InfluxDB first.
        let Some(influx) = &settings.influx else {
            return Err(format!("no daily report: {}", report::NEEDS_INFLUXDB));
        };
        let Some(kpi) = settings.kpi.clone() else {
            return Err("no daily report: the configuration has no [kpi] section".into());
        };
        let query = QueryClient::new(influx).map_err(|e| {
            tracing::warn!(error = %e, "/report disabled: no InfluxDB query client");
            format!("no daily report: InfluxDB query client: {e}")
        })?;
        Ok(ReportSource {
            query: Arc::new(query),
            kpi,
            site: settings.site.clone(),
        })
    }

    async fn page(&self, day: Option<Date>) -> Result<String, report::ReportError> {
        let day = match day {
            Some(d) => d,
            None => report::last_closed_day(&self.query, &self.kpi, &self.site).await?,
        };
        let data = report::gather(&self.query, &self.kpi, &self.site, day).await?;
        Ok(report::render(&data))
    }
}

pub fn routes(source: Result<ReportSource, String>) -> Router {
    Router::new().route(
        "/report",
        get(move |uri: Uri| {
            let source = source.clone();
            async move { answer(source, &uri).await }
        }),
    )
}

async fn answer(source: Result<ReportSource, String>, uri: &Uri) -> Response {
    let source = match source {
        Ok(s) => s,
        Err(why) => return (StatusCode::NOT_FOUND, format!("{why}\n")).into_response(),
    };
    let day = match day_param(uri.query().unwrap_or("")) {
        Ok(d) => d,
        Err(msg) => return (StatusCode::BAD_REQUEST, msg).into_response(),
    };
    match source.page(day).await {
        Ok(html) => Html(html).into_response(),
        Err(e @ report::ReportError::NoClosedDay { .. }) => {
            (StatusCode::NOT_FOUND, format!("{e}\n")).into_response()
        }
        Err(e) => {
            let why = e.chain();
            tracing::warn!(error = %why, "daily report failed");
            (StatusCode::BAD_GATEWAY, format!("{why}\n")).into_response()
        }
    }
}

/// `day=YYYY-MM-DD` from a query string; absent is `None`.
fn day_param(query: &str) -> Result<Option<Date>, String> {
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("day=") {
            return v
                .parse::<Date>()
                .map(Some)
                .map_err(|e| format!("day={v}: not a date YYYY-MM-DD: {e}\n"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_parameter() {
        assert_eq!(day_param(""), Ok(None));
        assert_eq!(
            day_param("x=1&day=2026-03-02"),
            Ok(Some(jiff::civil::date(2026, 3, 2)))
        );
        assert!(day_param("day=2026-13-01").is_err());
    }
}
