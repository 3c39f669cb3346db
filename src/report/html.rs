//! [`ReportData`] → one self-contained HTML page sized for one A4 sheet
//! (794 × 1123 CSS px). Numbers carry the same decimals as `plantgw kpi`'s
//! table, so the page and the stored row read the same. Unknown values are
//! said to be unknown, never shown as 0.
use std::fmt::Write as _;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::data::{DayStatus, Pace, ReportData};
use super::mill::{MillState, Stop};
use super::svg::{self, escape};

/// Stops listed by name; more are summarised in one line so the page
/// stays one sheet on a day of many short trips.
const MAX_STOPS_LISTED: usize = 10;

const STYLE: &str = r#"
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { width: 210mm; height: 296mm; overflow: hidden; padding: 9mm 11mm;
  font: 11px/1.35 "DejaVu Sans", Arial, sans-serif; color: #212121; }
h1 { font-size: 17px; margin: 0 0 2px; }
h2 { font-size: 12px; margin: 8px 0 3px; border-bottom: 1px solid #9e9e9e;
  text-transform: uppercase; letter-spacing: .04em; }
.sub { color: #616161; margin-bottom: 6px; }
.note { padding: 5px 8px; margin: 5px 0; border-left: 4px solid #f9a825; background: #fff8e1; }
.note.bad { border-color: #c62828; background: #ffebee; }
.note.ok { border-color: #2e7d32; background: #e8f5e9; }
.row { display: flex; gap: 14px; }
.row > div { flex: 1; }
.big { font-size: 20px; font-weight: bold; }
table { border-collapse: collapse; width: 100%; }
td, th { padding: 1px 6px 1px 0; text-align: left; vertical-align: top; }
th { color: #616161; font-weight: normal; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.muted { color: #757575; }
footer { position: absolute; bottom: 7mm; left: 11mm; right: 11mm; color: #757575; font-size: 9px; }
"#;

/// The page for `d`.
pub fn render(d: &ReportData) -> String {
    let mut b = String::with_capacity(32 * 1024);
    let title = format!("{} — production day {}", d.site, d.day);
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&format!("Daily report {title}"))
    );
    let _ = write!(
        b,
        "<h1>Daily report: {}</h1><div class=\"sub\">{} {} → {} {} ({})</div>",
        escape(&title),
        escape(&d.day.to_string()),
        local(&d.tz, d.start_ms),
        escape(&date_of(&d.tz, d.end_ms)),
        local(&d.tz, d.end_ms),
        escape(d.tz.iana_name().unwrap_or("site time")),
    );
    status(&mut b, d);
    if d.status != DayStatus::NoData {
        tonnage(&mut b, d);
        metallurgy(&mut b, d);
        mill(&mut b, d);
    }
    quality(&mut b, d);
    let _ = writeln!(
        b,
        "<footer>plantgw report · read from InfluxDB: kpi_daily, kpi, kpi_reconciled, mill power, plc_status, tag_quality · site {}</footer></body></html>",
        escape(&d.site)
    );
    b
}

fn status(b: &mut String, d: &ReportData) {
    match d.status {
        DayStatus::Closed => b.push_str(
            "<div class=\"note ok\">Day closed: final figures, as stored in kpi_daily.</div>",
        ),
        DayStatus::Open { as_of_ms } => {
            let _ = write!(
                b,
                "<div class=\"note\"><b>Day still open</b> (no kpi_daily row yet): these are the figures so far, as of {} {} (the latest kpi row). Final figures come when the day closes at {}; if that time has passed, the gateway did not close the day, and <code>plantgw kpi --day {} --write</code> closes it from the raw series.</div>",
                escape(&date_of(&d.tz, as_of_ms)),
                local(&d.tz, as_of_ms),
                local(&d.tz, d.end_ms),
                d.day
            );
        }
        DayStatus::NoData => {
            let _ = write!(
                b,
                "<div class=\"note bad\"><b>No data for this day</b>: InfluxDB holds no KPI rows (kpi_daily or kpi) for site {} on production day {}. There is nothing to report; no figures are shown rather than zeros.</div>",
                escape(&d.site),
                d.day
            );
        }
    }
    if d.analyser_down() {
        b.push_str(
            "<div class=\"note bad\"><b>Ag analyser: no good assay all day</b>: head grade, recovery and ounces are unknown for this day (the assay tags were bad or silent). Tonnage and mill figures stand.</div>",
        );
    }
}

fn tonnage(b: &mut String, d: &ReportData) {
    let f = &d.figures;
    b.push_str("<h2>Ore milled</h2><div class=\"row\"><div>");
    let _ = write!(
        b,
        "<div class=\"big\">{}</div>dry, against {} target",
        num(f.ore_dry_t, 1, "t"),
        num(Some(d.target_tpd), 0, "t/d"),
    );
    if let Some(t) = f.ore_dry_t {
        let _ = write!(b, " = {}", num(Some(100.0 * t / d.target_tpd), 1, "%"));
    }
    let _ = write!(
        b,
        "<br>{}<br><span class=\"muted\">wet {} · mean {} · projected day {}</span></div><div style=\"flex:0 0 360px\"><table>",
        svg::progress(f.ore_dry_t, d.target_tpd, 340.0),
        num(f.ore_wet_t, 1, "t"),
        num(f.throughput_tph, 2, "t/h"),
        num(f.projected_day_t, 0, "t"),
    );
    let hours_known = d.hourly_t.iter().flatten().count();
    let best = d.hourly_t.iter().flatten().copied().fold(None, max_opt);
    let worst = d.hourly_t.iter().flatten().copied().fold(None, min_opt);
    let _ = write!(
        b,
        "<tr><th>hours with data</th><td class=\"n\">{hours_known} of {}</td></tr><tr><th>best hour</th><td class=\"n\">{}</td></tr><tr><th>worst hour</th><td class=\"n\">{}</td></tr><tr><th>totaliser resets</th><td class=\"n\">{}</td></tr></table></div></div>",
        d.hourly_t.len(),
        num(best, 1, "t"),
        num(worst, 1, "t"),
        num(f.totaliser_resets, 0, ""),
    );
    let labels = hour_labels(d);
    let per_hour = d.target_tpd / d.hourly_t.len().max(1) as f64;
    let _ = write!(
        b,
        "<div class=\"muted\" style=\"margin-top:4px\">Dry tonnes per hour (dashed: {} per hour for {}; red: under 95 % of it; grey: no data)</div>{}",
        num(Some(per_hour), 1, "t"),
        num(Some(d.target_tpd), 0, "t/d"),
        svg::hourly(&d.hourly_t, per_hour, &labels)
    );
}

fn metallurgy(b: &mut String, d: &ReportData) {
    let f = &d.figures;
    let rec = d.reconciled.as_ref();
    b.push_str("<h2>Silver</h2><div class=\"row\"><div><table>");
    let _ = write!(
        b,
        "<tr><th>Ag head grade</th><td class=\"n\">{}</td></tr><tr><th>Ag recovery, raw</th><td class=\"n\">{}</td><td class=\"muted\">{}</td></tr>",
        num(f.ag_head_gpt, 1, "g/t"),
        num(f.ag_recovery_pct, 2, "%"),
        escape(f.recovery_method.as_deref().unwrap_or("")),
    );
    match rec {
        Some(r) => {
            let _ = write!(
                b,
                "<tr><th>Ag recovery, reconciled</th><td class=\"n\">{}</td><td class=\"muted\">± {} (95 %)</td></tr>",
                num(r.ag_recovery_pct, 2, "%"),
                num(r.ag_recovery_ci95_pp, 2, "pp"),
            );
        }
        None => b.push_str(
            "<tr><th>Ag recovery, reconciled</th><td class=\"n\">not reconciled</td><td class=\"muted\">no kpi_reconciled row for this day</td></tr>",
        ),
    }
    let _ = write!(
        b,
        "<tr><th>Ag recovered</th><td class=\"n\">{}</td><td class=\"muted\">raw</td></tr>",
        num(f.ag_oz, 0, "oz")
    );
    if let Some(r) = rec {
        let _ = write!(
            b,
            "<tr><th>Ag recovered, reconciled</th><td class=\"n\">{}</td><td class=\"muted\">± {} (95 %)</td></tr>",
            num(r.ag_oz, 0, "oz"),
            num(r.ag_oz_ci95, 0, "oz"),
        );
        let _ = write!(
            b,
            "<tr><th>balance fit</th><td class=\"n\">p = {}</td><td class=\"muted\">χ² {} on {} dof{}</td></tr>",
            num(r.p_value, 3, ""),
            num(r.chi2, 2, ""),
            num(r.dof, 0, ""),
            r.gross_error
                .as_deref()
                .map(|g| format!("; suspect assay: {}", escape(g)))
                .unwrap_or_default()
        );
    }
    b.push_str("</table>");
    if f.ag_recovery_pct.is_some() || rec.is_some_and(|r| r.ag_recovery_pct.is_some()) {
        b.push_str(&svg::recovery(
            f.ag_recovery_pct,
            rec.and_then(|r| Some((r.ag_recovery_pct?, r.ag_recovery_ci95_pp))),
        ));
    }
    b.push_str("</div><div style=\"flex:0 0 340px\">");
    let (pace, source) = match &d.pace {
        Pace::Stored(p) => (Some(*p), "ag_oz_pace_year: mean of the last (up to 7) closed days × 365".to_string()),
        Pace::FromDaily { oz_year, days } => (
            Some(*oz_year),
            format!(
                "no ag_oz_pace_year stored: mean kpi_daily ounces of the last {} closed day(s) × 365 ({})",
                days.len(),
                days.iter()
                    .map(|(day, oz)| format!("{}: {oz:.0} oz", day.get(5..).unwrap_or(day)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        Pace::Unknown => (None, "unknown: no closed day with ounces".to_string()),
    };
    let _ = write!(
        b,
        "<div><b>Pace</b> against {} a year</div><div class=\"big\">{}</div>{}",
        moz(Some(d.target_oz_year)),
        moz(pace),
        svg::progress(pace, d.target_oz_year, 320.0),
    );
    if let Some(p) = pace {
        let _ = write!(
            b,
            "<div>{} of target ({})</div>",
            num(Some(100.0 * p / d.target_oz_year), 1, "%"),
            num(Some(p), 0, "oz/yr")
        );
    }
    let _ = write!(
        b,
        "<div class=\"muted\">{}</div><table><tr><th>year to date</th><td class=\"n\">{}</td></tr><tr><th>projected year</th><td class=\"n\">{}</td></tr></table></div></div>",
        escape(&source),
        num(f.ag_oz_ytd, 0, "oz"),
        num(f.ag_projected_oz_year, 0, "oz"),
    );
}

fn mill(b: &mut String, d: &ReportData) {
    let f = &d.figures;
    let stopped: i64 = d.stops.iter().map(|s| s.end_ms - s.start_ms).sum();
    let _ = write!(
        b,
        "<h2>Ball mill</h2><div>availability <b>{}</b> · {} stop(s), {} stopped</div>",
        num(f.mill_availability_pct, 1, "%"),
        d.stops.len(),
        duration(stopped)
    );
    if d.mill.is_empty() {
        b.push_str("<div class=\"muted\">No mill power tag configured: stops not known.</div>");
        return;
    }
    b.push_str(&svg::mill_timeline(
        &d.mill,
        d.start_ms,
        d.end_ms,
        &hour_labels(d),
    ));
    if d.mill.iter().all(|s| s.2 == MillState::NoData) {
        b.push_str("<div class=\"muted\">No mill power data for this day: stops not known.</div>");
        return;
    }
    if d.stops.is_empty() {
        b.push_str("<div>No stops.</div>");
        return;
    }
    b.push_str("<table style=\"width:auto\"><tr><th>stop</th><th>start</th><th>end</th><th>duration</th></tr>");
    for (i, s) in d.stops.iter().take(MAX_STOPS_LISTED).enumerate() {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            i + 1,
            stop_end(d, s.start_ms, s.from_before, "stopped before the day"),
            stop_end(d, s.end_ms, s.to_after, "still stopped at day end"),
            duration(s.end_ms - s.start_ms)
        );
    }
    b.push_str("</table>");
    let rest: &[Stop] = d.stops.get(MAX_STOPS_LISTED..).unwrap_or(&[]);
    if !rest.is_empty() {
        let _ = write!(
            b,
            "<div class=\"muted\">… and {} more stop(s), {} in all.</div>",
            rest.len(),
            duration(rest.iter().map(|s| s.end_ms - s.start_ms).sum())
        );
    }
}

fn stop_end(d: &ReportData, ms: i64, open: bool, why: &str) -> String {
    if open {
        format!("{} <span class=\"muted\">({why})</span>", local(&d.tz, ms))
    } else {
        local(&d.tz, ms)
    }
}

fn quality(b: &mut String, d: &ReportData) {
    let _ = write!(
        b,
        "<h2>Data quality</h2><div>good KPI input data: <b>{}</b> of the day</div>",
        num(d.figures.good_data_pct, 1, "%")
    );
    if d.plcs.is_empty() {
        b.push_str("<div class=\"muted\">No plc_status rows for this day.</div>");
        return;
    }
    b.push_str("<table style=\"width:auto\"><tr><th>PLC</th><th>scans</th><th>connected</th><th>bad-quality events</th></tr>");
    for p in &d.plcs {
        let pct = (p.scans > 0).then(|| 100.0 * p.connected as f64 / p.scans as f64);
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&p.plc),
            p.scans,
            num(pct, 1, "%"),
            p.bad_quality_events
        );
    }
    b.push_str("</table>");
}

/// `v` with `decimals`, or "unknown" for a value not stored.
pub fn num(v: Option<f64>, decimals: usize, unit: &str) -> String {
    match v.filter(|v| v.is_finite()) {
        Some(v) if unit.is_empty() => format!("{v:.decimals$}"),
        Some(v) => format!("{v:.decimals$} {unit}"),
        None => "unknown".into(),
    }
}

fn moz(v: Option<f64>) -> String {
    num(v.map(|v| v / 1e6), 2, "Moz")
}

fn max_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

fn min_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn hour_labels(d: &ReportData) -> Vec<String> {
    (0..d.hourly_t.len() as i64)
        .map(|h| local(&d.tz, d.start_ms + h * 3_600_000))
        .collect()
}

/// Local `HH:MM` of an instant.
fn local(tz: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| tz.to_datetime(t).strftime("%H:%M").to_string())
        .unwrap_or_else(|_| "?".into())
}

fn date_of(tz: &TimeZone, ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|t| tz.to_datetime(t).date().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `2 h 05 min`, or `35 min`.
fn duration(ms: i64) -> String {
    let min = (ms + 30_000) / 60_000;
    if min >= 60 {
        format!("{} h {:02} min", min / 60, min % 60)
    } else {
        format!("{min} min")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_is_said_not_zero() {
        assert_eq!(num(None, 1, "t"), "unknown");
        assert_eq!(num(Some(f64::NAN), 1, "t"), "unknown");
        assert_eq!(num(Some(691.24), 1, "t"), "691.2 t");
        assert_eq!(duration(95 * 60_000), "1 h 35 min");
        assert_eq!(duration(5 * 60_000), "5 min");
    }
}
