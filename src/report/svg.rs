//! The report's inline SVG charts. Plain strings: fixed sizes in CSS
//! pixels (the page is laid out for A4 at 96 dpi), no scripts, no fonts
//! beyond the page's.
use std::fmt::Write as _;

use super::mill::MillState;

const OK: &str = "#2e7d32";
const SHORT: &str = "#c62828";
const BAR: &str = "#1565c0";
const GRID: &str = "#bdbdbd";
const NODATA: &str = "#e0e0e0";

/// A horizontal bar of `value` against `target`, the scale running to
/// 120 % of the target (or the value, if larger); the target is a tick.
pub fn progress(value: Option<f64>, target: f64, width: f64) -> String {
    let h = 22.0;
    let max = value
        .unwrap_or(0.0)
        .max(target * 1.2)
        .max(f64::MIN_POSITIVE);
    let x = |v: f64| (v / max * width).clamp(0.0, width);
    let mut s = svg_open(width, h + 4.0);
    let _ = write!(
        s,
        r#"<rect x="0" y="2" width="{width}" height="{h}" fill="{NODATA}"/>"#
    );
    if let Some(v) = value {
        let colour = if v >= target { OK } else { SHORT };
        let _ = write!(
            s,
            r#"<rect x="0" y="2" width="{:.1}" height="{h}" fill="{colour}"/>"#,
            x(v)
        );
    }
    let tx = x(target);
    let _ = write!(
        s,
        r##"<line x1="{tx:.1}" y1="0" x2="{tx:.1}" y2="{:.1}" stroke="#000" stroke-width="2"/>"##,
        h + 4.0
    );
    s.push_str("</svg>");
    s
}

/// Bars of tonnes per hour, with the hourly share of the daily target as
/// a dashed line; hours without data are grey stubs. `labels[i]` is the
/// local hour each bar starts at.
pub fn hourly(hours: &[Option<f64>], per_hour_target: f64, labels: &[String]) -> String {
    let (w, h, left, bottom) = (700.0, 150.0, 34.0, 18.0);
    let plot_h = h - bottom - 6.0;
    let n = hours.len().max(1) as f64;
    let top = hours
        .iter()
        .flatten()
        .copied()
        .fold(per_hour_target * 1.4, f64::max)
        .max(1.0);
    let step = nice_step(top / 4.0);
    let top = (top / step).ceil() * step;
    let y = |v: f64| 6.0 + plot_h - v / top * plot_h;
    let slot = (w - left) / n;
    let mut s = svg_open(w, h);
    let mut g = 0.0;
    while g <= top + step / 2.0 {
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{y:.1}" x2="{w}" y2="{y:.1}" stroke="{GRID}" stroke-width="0.5"/><text x="{tx}" y="{ty:.1}" font-size="9" text-anchor="end">{g:.0}</text>"#,
            y = y(g),
            tx = left - 3.0,
            ty = y(g) + 3.0
        );
        g += step;
    }
    for (i, v) in hours.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.15;
        let bw = slot * 0.7;
        match v {
            Some(v) => {
                let colour = if *v >= per_hour_target * 0.95 {
                    BAR
                } else {
                    SHORT
                };
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{:.1}" fill="{colour}"/>"#,
                    y(*v),
                    (y(0.0) - y(*v)).max(0.0)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="4" fill="{NODATA}"/>"#,
                    y(0.0) - 4.0
                );
            }
        }
        if i % 2 == 0 {
            if let Some(l) = labels.get(i) {
                let _ = write!(
                    s,
                    r#"<text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{}</text>"#,
                    x + bw / 2.0,
                    h - 4.0,
                    escape(l)
                );
            }
        }
    }
    let ty = y(per_hour_target);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{ty:.1}" x2="{w}" y2="{ty:.1}" stroke="#000" stroke-dasharray="4 3"/>"##
    );
    s.push_str("</svg>");
    s
}

/// Recovery on a 0–100 % axis zoomed to the values: raw as a dot,
/// reconciled as a dot with its 95 % interval.
pub fn recovery(raw: Option<f64>, reconciled: Option<(f64, Option<f64>)>) -> String {
    let (w, h) = (330.0, 46.0);
    let mut vals: Vec<f64> = raw.into_iter().collect();
    if let Some((r, ci)) = reconciled {
        vals.push(r - ci.unwrap_or(0.0));
        vals.push(r + ci.unwrap_or(0.0));
    }
    let lo = (vals.iter().copied().fold(f64::MAX, f64::min) - 5.0).clamp(0.0, 95.0);
    let lo = (lo / 5.0).floor() * 5.0;
    let hi = (vals.iter().copied().fold(f64::MIN, f64::max) + 5.0).clamp(lo + 5.0, 100.0);
    let hi = (hi / 5.0).ceil() * 5.0;
    let x = |v: f64| 10.0 + (v - lo) / (hi - lo) * (w - 20.0);
    let mut s = svg_open(w, h);
    let _ = write!(
        s,
        r#"<line x1="10" y1="34" x2="{}" y2="34" stroke="{GRID}"/>"#,
        w - 10.0
    );
    let mut t = lo;
    while t <= hi + 0.1 {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="45" font-size="9" text-anchor="middle">{t:.0}</text>"#,
            x(t)
        );
        t += 5.0;
    }
    if let Some(r) = raw {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="10" r="4" fill="#616161"/><text x="{:.1}" y="13" font-size="9">raw</text>"##,
            x(r),
            x(r) + 7.0
        );
    }
    if let Some((r, ci)) = reconciled {
        if let Some(ci) = ci {
            let _ = write!(
                s,
                r#"<line x1="{:.1}" y1="24" x2="{:.1}" y2="24" stroke="{BAR}" stroke-width="3"/>"#,
                x(r - ci),
                x(r + ci)
            );
        }
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="24" r="4" fill="{BAR}"/><text x="{:.1}" y="27" font-size="9">reconciled</text>"#,
            x(r),
            x(r + ci.unwrap_or(0.0)) + 5.0
        );
    }
    s.push_str("</svg>");
    s
}

/// The mill over the day: running green, stopped red, no data grey.
pub fn mill_timeline(
    segs: &[(i64, i64, MillState)],
    start: i64,
    end: i64,
    labels: &[String],
) -> String {
    let (w, h) = (700.0, 34.0);
    let span = (end - start).max(1) as f64;
    let x = |t: i64| (t - start) as f64 / span * w;
    let mut s = svg_open(w, h);
    let _ = write!(
        s,
        r#"<rect x="0" y="0" width="{w}" height="18" fill="{NODATA}"/>"#
    );
    for &(a, b, st) in segs {
        let colour = match st {
            MillState::Running => OK,
            MillState::Stopped => SHORT,
            MillState::NoData => NODATA,
        };
        let _ = write!(
            s,
            r#"<rect x="{:.2}" y="0" width="{:.2}" height="18" fill="{colour}"/>"#,
            x(a),
            (x(b) - x(a)).max(0.5)
        );
    }
    let n = labels.len().max(1);
    for (i, l) in labels.iter().enumerate().step_by(3) {
        let lx = w * i as f64 / n as f64;
        let _ = write!(
            s,
            r##"<line x1="{lx:.1}" y1="18" x2="{lx:.1}" y2="22" stroke="#000"/><text x="{:.1}" y="32" font-size="9">{}</text>"##,
            lx + 1.0,
            escape(l)
        );
    }
    s.push_str("</svg>");
    s
}

fn svg_open(w: f64, h: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    )
}

/// 1, 2 or 5 × a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_closed_svg_and_escape_labels() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}<")).collect();
        let bars = hourly(&[Some(30.0), None, Some(10.0)], 29.2, &labels);
        assert!(bars.starts_with("<svg") && bars.ends_with("</svg>"));
        assert!(bars.contains("00&lt;") && !bars.contains("00<<"));
        assert_eq!(nice_step(9.0), 10.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert!(progress(None, 700.0, 300.0).ends_with("</svg>"));
        assert!(recovery(Some(85.0), Some((84.0, Some(1.5)))).contains("circle"));
    }
}
