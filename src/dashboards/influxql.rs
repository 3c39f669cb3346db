//! InfluxQL text the dashboards query with: quoting and the WHERE clauses
//! that tie every query to Grafana's `$site`, `$plc` and `$timeFilter`.

/// WHERE clause of plant series (tags site, area, plc).
pub const PLANT_FILTER: &str = r#""site" =~ /^$site$/ AND "plc" =~ /^$plc$/ AND $timeFilter"#;
/// WHERE clause of site-wide series (kpi, gateway_status).
pub const SITE_FILTER: &str = r#""site" =~ /^$site$/ AND $timeFilter"#;

/// An InfluxQL identifier, double-quoted.
pub fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An InfluxQL string literal, single-quoted.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `SELECT {fields} FROM "{measurement}" WHERE {SITE_FILTER}`: the latest
/// values of a site-wide series.
pub fn site_select(measurement: &str, fields: &str) -> String {
    format!(r#"SELECT {fields} FROM "{measurement}" WHERE {SITE_FILTER}"#)
}

/// As [`site_select`], grouped by Grafana's `$__interval` without filling gaps.
pub fn site_select_t(measurement: &str, fields: &str) -> String {
    format!(
        r#"SELECT {fields} FROM "{measurement}" WHERE {SITE_FILTER} GROUP BY time($__interval) fill(none)"#
    )
}

/// A plant series per PLC and `$__interval`.
pub fn per_plc_t(measurement: &str, fields: &str, fill: &str) -> String {
    format!(
        r#"SELECT {fields} FROM "{measurement}" WHERE {PLANT_FILTER} GROUP BY time($__interval), "plc" fill({fill})"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_what_would_end_the_token() {
        assert_eq!(ident(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(literal(r"it's\"), r"'it\'s\\'");
    }
}
