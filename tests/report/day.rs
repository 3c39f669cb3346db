//! A real production day: the simulator at 1440× (a day in a minute), the
//! `plantgw` binary writing to a real influxd, then the day's report from
//! `plantgw report` and from the gateway's `GET /report`, rendered by
//! headless Chromium to PNG and to an A4 PDF whose text must carry the
//! stored `kpi_daily` numbers.
//!
//! `UPDATE_REPORT_SCREENSHOT=1` copies the PNG to docs/report.png (the
//! README's screenshot); a plain run changes no tracked file. (Not a
//! `PLANTGW_` name: those are configuration overrides, and the gateway
//! refuses unknown ones.)
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use plantsim::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::scenario::Scenario;
use plantsim::simulator::{SimOptions, Simulator};

use super::chromium;
use crate::common::influx::InfluxD;

const SPEED: f64 = 1440.0;
/// 07:00 Lima 2026-03-02 → 07:00 2026-03-03.
const DAY: &str = "2026-03-02";
/// An hour early: 2.5 s wall for the gateway to start before the day does.
const PLANT_START: &str = "2026-03-02T06:00:00-05:00";
const SCREENSHOT: &str = "docs/report.png";

/// The gateway process, killed on drop if a failed assertion leaves it.
struct Gw(Child);

impl Drop for Gw {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn gateway(config: &Path, clock: &PlantClock) -> Gw {
    let child = Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(["run", "--config"])
        .arg(config)
        .args(["--speed", &SPEED.to_string()])
        .args(["--start", &clock.start().to_string()])
        .args(["--anchor", &clock.anchor().to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start plantgw run");
    Gw(child)
}

async fn get(url: &str) -> (u16, String) {
    let resp = crate::common::influx::http_client()
        .get(url)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_day_prints_on_one_a4_page_with_the_kpi_daily_numbers() {
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let start: Timestamp = PLANT_START.parse().unwrap();
    let clock = PlantClock::new(start, Timestamp::now(), SPEED);
    // A 90-minute mill stop from 09:50, for the report to list.
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "[[event]]\nkind = \"mill_stop\"\noffset = \"3h50m\"\nduration = \"90m\"\n",
    )
    .unwrap();
    let sim = Simulator::start(SimOptions {
        clock,
        seed: 42,
        scenario: Scenario::from_file(&scenario).unwrap(),
        map: PlantMap::caylloma().on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let http = format!("127.0.0.1:{}", crate::common::free_port());
    let mut cfg = crate::common::sim_gateway_config_scanning(
        &sim.gateway_config_toml(),
        &influx.url,
        250,
        250,
    );
    cfg["http"]
        .as_table_mut()
        .unwrap()
        .insert("listen".into(), http.clone().into());
    let config = dir.path().join("caylloma.toml");
    let settings = crate::common::write_gateway_config(&config, &cfg);
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;
    let mut gw = gateway(&config, &clock);

    let day_end: Timestamp = "2026-03-03T07:00:00-05:00".parse().unwrap();
    let wait = day_end
        .checked_add(SignedDuration::from_mins(20))
        .unwrap()
        .duration_since(clock.now())
        .as_secs_f64()
        / SPEED;
    tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
    let q = format!(r#"SELECT * FROM "kpi_daily" WHERE "day"='{DAY}'"#);
    let daily = crate::common::eventually(Duration::from_secs(30), "kpi_daily row", || async {
        query.query(&q).await.ok()?.into_iter().next()
    })
    .await;
    let col = |name: &str| {
        daily
            .column(name)
            .and_then(|i| daily.values[0][i].as_f64())
            .unwrap_or_else(|| panic!("kpi_daily {DAY} has no {name}: {daily:?}"))
    };
    let (dry, head, rec, oz, avail, good) = (
        col("ore_dry_t"),
        col("ag_head_gpt"),
        col("ag_recovery_pct"),
        col("ag_oz"),
        col("mill_availability_pct"),
        col("good_data_pct"),
    );
    assert!(dry > 600.0, "a normal day mills ~700 t: {dry}");

    // The metallurgical balance of [kpi.reconcile], written by the gateway
    // when it closed the day.
    let rq = format!(r#"SELECT * FROM "kpi_reconciled" WHERE "day"='{DAY}'"#);
    let reconciled =
        crate::common::eventually(Duration::from_secs(30), "kpi_reconciled row", || async {
            query.query(&rq).await.ok()?.into_iter().next()
        })
        .await;
    let rcol = |name: &str| {
        reconciled
            .column(name)
            .and_then(|i| reconciled.values[0][i].as_f64())
            .unwrap_or_else(|| panic!("kpi_reconciled {DAY} has no {name}: {reconciled:?}"))
    };
    let (rec_r, rec_ci, oz_r) = (
        rcol("ag_recovery_pct"),
        rcol("ag_recovery_ci95_pp"),
        rcol("ag_oz"),
    );

    // The gateway serves the same page: by day, and as the last closed day.
    let (status, by_day) = get(&format!("http://{http}/report?day={DAY}")).await;
    assert_eq!(status, 200, "{by_day}");
    let (status, default_day) = get(&format!("http://{http}/report")).await;
    assert_eq!(status, 200, "{default_day}");
    let (status, bad) = get(&format!("http://{http}/report?day=2026-02-30")).await;
    assert_eq!(status, 400, "{bad}");
    let _ = Command::new("kill")
        .args(["-TERM", &gw.0.id().to_string()])
        .status();
    assert_eq!(gw.0.wait().unwrap().code(), Some(0), "gateway exit");

    let page = dir.path().join("report.html");
    let said = chromium::plantgw_report(&config, DAY, &page);
    assert!(said.contains("written"), "{said}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html, by_day,
        "GET /report?day= is the page plantgw report writes"
    );
    assert_eq!(
        html, default_day,
        "GET /report defaults to the last closed day"
    );
    for external in ["<script", "<link", "src=", "url(", "@import"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }

    let png = chromium::screenshot(&page, dir.path());
    assert_eq!(chromium::png_size(&png), chromium::A4_PX);
    let printed = chromium::print(&page, dir.path());
    assert_eq!(printed.pages, 1, "the report prints on one A4 page");
    let text = &printed.text;
    eprintln!("{DAY} report as printed: {text}");
    for want in [
        format!("{dry:.1} t"),
        format!("{head:.1} g/t"),
        format!("{rec:.2} %"),
        format!("{oz:.0} oz"),
        format!("availability {avail:.1} %"),
        format!("good KPI input data: {good:.1} %"),
        format!("{rec_r:.2} %"),
        format!("± {rec_ci:.2} pp (95 %)"),
        format!("{oz_r:.0} oz"),
        "Day closed".to_string(),
    ] {
        assert!(text.contains(&want), "rendered text lacks {want:?}: {text}");
    }
    // Pace: the ag_oz_pace_year the engine stored with the day.
    let pace = daily
        .column("ag_oz_pace_year")
        .and_then(|i| daily.values[0][i].as_f64())
        .unwrap_or_else(|| panic!("kpi_daily {DAY} has no ag_oz_pace_year: {daily:?}"));
    assert!(
        text.contains(&format!("({pace:.0} oz/yr)")),
        "pace {pace:.0}: {text}"
    );
    assert!(!text.contains("not reconciled"), "{text}");

    // The listed stops account for the stored availability.
    let kpi = settings.kpi.as_ref().unwrap();
    let data = plantgw::report::gather(&query, kpi, &settings.site, DAY.parse().unwrap())
        .await
        .unwrap();
    let hourly: f64 = data.hourly_t.iter().flatten().sum();
    assert_eq!(
        data.hourly_t.iter().flatten().count(),
        24,
        "{:?}",
        data.hourly_t
    );
    assert!(
        (hourly - dry).abs() / dry < 0.01,
        "the hourly bars add up to {hourly:.1} t, kpi_daily {dry:.1} t"
    );
    let stopped: i64 = data.stops.iter().map(|s| s.end_ms - s.start_ms).sum();
    let from_stops = 100.0 * (1.0 - stopped as f64 / (data.end_ms - data.start_ms) as f64);
    assert!(
        (from_stops - avail).abs() < 3.0,
        "stops {:?} give {from_stops:.1} % available, kpi_daily {avail:.1} %",
        data.stops
    );
    assert!(
        !data.stops.is_empty() && text.contains(&format!("{} stop(s)", data.stops.len())),
        "the scenario's mill stop is listed: {:?} {text}",
        data.stops
    );

    let committed = crate::common::repo_path(SCREENSHOT);
    if std::env::var_os("UPDATE_REPORT_SCREENSHOT").is_some() {
        std::fs::copy(&png, &committed).unwrap();
    }
    assert_eq!(
        chromium::png_size(&committed),
        chromium::A4_PX,
        "{SCREENSHOT}: run with UPDATE_REPORT_SCREENSHOT=1 to write it"
    );
    sim.shutdown().await.unwrap();
}
