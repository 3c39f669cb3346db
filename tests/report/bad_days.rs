//! The three days a report must not dress up as zeros, each as stored in a
//! real influxd and printed by headless Chromium: a day with no data, a day
//! still open, and a day the silver analyser was down all day.
use std::path::Path;

use jiff::Timestamp;

use super::chromium;
use crate::common::influx::InfluxD;

/// Epoch ms of a Lima local time on `date`.
fn lima(date: &str, hhmm: &str) -> i64 {
    format!("{date}T{hhmm}:00-05:00")
        .parse::<Timestamp>()
        .unwrap()
        .as_millisecond()
}

async fn write(url: &str, lines: &[String]) {
    let resp = crate::common::influx::http_client()
        .post(format!("{url}/write?db=plant&precision=ms"))
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_eq!(
        status.as_u16(),
        204,
        "write refused: {}",
        resp.text().await.unwrap_or_default()
    );
}

fn printed(config: &Path, dir: &Path, day: &str) -> chromium::Printed {
    let page = dir.join(format!("{day}.html"));
    chromium::plantgw_report(config, day, &page);
    let p = chromium::print(&page, dir);
    assert_eq!(p.pages, 1, "{day}: the report must print on one A4 page");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_open_day_and_analyser_down_are_said_plainly() {
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(crate::common::repo_path("config/caylloma.toml")).unwrap();
    let cfg = crate::common::sim_gateway_config(&shipped, &influx.url, 1000, "");
    let config = dir.path().join("caylloma.toml");
    let settings = crate::common::write_gateway_config(&config, &cfg);
    crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;

    // 2026-03-11: open, kpi rows every 10 min 07:10 → 13:00, no kpi_daily.
    let mut lines = Vec::new();
    for i in 1..=35 {
        let ts = lima("2026-03-11", "07:00") + i * 600_000;
        let dry = 4.85 * i as f64;
        lines.push(format!(
            "kpi,site=caylloma,day=2026-03-11 ore_dry_t={dry},ore_wet_t={},target_tpd=700,ag_head_gpt=251.5,ag_recovery_pct=85.31,ag_oz={},target_oz_year=1900000,good_data_pct=100 {ts}",
            dry * 1.06,
            dry * 251.5 * 0.8531 / 31.1035
        ));
    }
    // 2026-03-12: closed, but no good assay all day: the engine left the
    // Ag fields out. The mill stopped 09:00–09:45, then tripped 13 times
    // for 10 min (15:00, 16:00, … 03:00): more stops than the page lists.
    let d12 = lima("2026-03-12", "07:00");
    lines.push(format!(
        "kpi_daily,site=caylloma,day=2026-03-12 ore_dry_t=702.4,ore_wet_t=744.5,throughput_tph=29.27,target_tpd=700,mill_availability_pct=96.9,target_oz_year=1900000,good_data_pct=41.7,totaliser_resets=0i {d12}"
    ));
    for h in 0..24 {
        lines.push(format!(
            "kpi,site=caylloma,day=2026-03-12 ore_dry_t={} {}",
            29.2 * (h + 1) as f64,
            d12 + (h + 1) * 3_600_000 - 60_000
        ));
    }
    for m in (0..24 * 60).step_by(5) {
        let t = d12 + m * 60_000;
        let trip = (480..480 + 13 * 60).contains(&m) && (m - 480) % 60 < 10;
        let kw = if (120..165).contains(&m) || trip {
            3.0
        } else {
            412.0
        };
        lines.push(format!(
            "ball_mill,site=caylloma,area=grinding,plc=grinding power_kw={kw} {t}"
        ));
        lines.push(format!(
            "plc_status,site=caylloma,plc=flotation connected={} {t}",
            m >= 600
        ));
    }
    write(&influx.url, &lines).await;

    let none = printed(&config, dir.path(), "2026-03-10");
    assert!(none.text.contains("No data for this day"), "{}", none.text);
    assert!(
        !none.text.contains("Ore milled") && !none.text.contains(" t/h"),
        "a day without data shows no figures: {}",
        none.text
    );

    let open = printed(&config, dir.path(), "2026-03-11");
    assert!(open.text.contains("Day still open"), "{}", open.text);
    assert!(
        open.text.contains("as of 2026-03-11 12:50"),
        "the latest kpi row's time: {}",
        open.text
    );
    assert!(
        open.text.contains(&format!("{:.1} t", 4.85 * 35.0)),
        "{}",
        open.text
    );
    assert!(open.text.contains("251.5 g/t") && open.text.contains("85.31 %"));
    assert!(open.text.contains("not reconciled"), "{}", open.text);

    let down = printed(&config, dir.path(), "2026-03-12");
    assert!(
        down.text.contains("Ag analyser: no good assay all day"),
        "{}",
        down.text
    );
    assert!(down.text.contains("Day closed"), "{}", down.text);
    assert!(down.text.contains("Ag head grade unknown"), "{}", down.text);
    assert!(down.text.contains("702.4 t") && down.text.contains("96.9 %"));
    assert!(
        down.text.contains("14 stop(s), 2 h 55 min stopped")
            && down.text.contains("1 09:00 09:45 45 min")
            && down.text.contains("10 23:00 23:10 10 min")
            && down.text.contains("… and 4 more stop(s), 40 min in all."),
        "the mill stop with start, end and duration: {}",
        down.text
    );
    assert!(
        down.text.contains("flotation 288 58.3 %"),
        "share of scans connected: {}",
        down.text
    );
    assert!(down.text.contains("41.7 %"), "good data: {}", down.text);
}
