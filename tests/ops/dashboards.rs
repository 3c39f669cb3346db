//! The Grafana side, without Grafana (it is not installable here): the
//! dashboards are checked for the structure Grafana needs, kept in sync with
//! the shipped configuration, and every query in them (panel targets and
//! template variables) is run against a real influxd holding a simulated
//! plant day written by the gateway.
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use plantgw::app::{self, RunOptions};
use plantgw::sink::influxdb::query::QueryClient;
use plantsim::clock::PlantClock;
use plantsim::map::PlantMap;
use plantsim::simulator::{SimOptions, Simulator};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::yaml;
use crate::common::influx::InfluxD;
use crate::common::repo_path;
use plantgw::dashboards::DS_UID;

fn dashboard_files() -> Vec<(PathBuf, Value)> {
    let dir = repo_path("grafana/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
            (p, v)
        })
        .collect()
}

fn shipped_config() -> plantgw::config::RawConfig {
    // Without PLANTGW_* overrides from the environment: the file as shipped.
    plantgw::config::load_raw_with_env(&repo_path("config/caylloma.toml"), []).unwrap()
}

/// Every panel with queries, with its targets.
fn query_panels(d: &Value) -> Vec<&Value> {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .collect()
}

/// (measurement, field) pairs a query selects: `FROM "m"` and every `("f")`.
fn selected(query: &str) -> Vec<(String, String)> {
    let Some(from) = query.find(" FROM \"") else {
        return Vec::new();
    };
    let rest = &query[from + 7..];
    let measurement = rest[..rest.find('"').unwrap()].to_string();
    let head = &query[..from];
    let mut out = Vec::new();
    let mut s = head;
    while let Some(i) = s.find("(\"") {
        let after = &s[i + 2..];
        let end = after.find('"').unwrap();
        out.push((measurement.clone(), after[..end].to_string()));
        s = &after[end..];
    }
    out
}

/// `plantgw dashboards` run on `config` into a fresh folder: each file's
/// name and text.
fn generate_with_binary(config: &std::path::Path) -> BTreeMap<String, String> {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_plantgw"));
    cmd.args(["dashboards", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out.path());
    // The file as written, without PLANTGW_* overrides from the environment.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PLANTGW_") {
            cmd.env_remove(k);
        }
    }
    let run = cmd.output().unwrap();
    assert!(
        run.status.success(),
        "plantgw dashboards failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let listed: BTreeSet<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(out.path()).unwrap() {
        let p = e.unwrap().path();
        assert!(
            listed.contains(&p.display().to_string()),
            "{} written but not listed",
            p.display()
        );
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        files.insert(name, std::fs::read_to_string(&p).unwrap());
    }
    assert_eq!(files.len(), listed.len(), "every listed file was written");
    files
}

#[test]
fn dashboards_match_the_shipped_config() {
    let generated = generate_with_binary(&repo_path("config/caylloma.toml"));
    let dir = repo_path("grafana/dashboards");
    if std::env::var_os("UPDATE_DASHBOARDS").is_some_and(|v| v == "1") {
        for (name, text) in &generated {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }
    let on_disk: BTreeMap<String, String> = dashboard_files()
        .iter()
        .map(|(p, _)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(p).unwrap(),
            )
        })
        .collect();
    let stale: Vec<&String> = generated
        .iter()
        .filter(|(n, t)| on_disk.get(*n) != Some(t))
        .map(|(n, _)| n)
        .collect();
    assert!(
        stale.is_empty() && generated.keys().eq(on_disk.keys()),
        "grafana/dashboards is not byte for byte the output of `plantgw dashboards --config config/caylloma.toml` \
         (stale: {stale:?}, generated {:?}, on disk {:?}); regenerate with: \
         cargo run -- dashboards --config config/caylloma.toml --out grafana/dashboards",
        generated.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>(),
    );
}

#[test]
fn dashboards_refuse_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let good = std::fs::read_to_string(repo_path("tests/ops/fixtures/small_plant.toml")).unwrap();
    std::fs::write(&bad, good.replace("America/Lima", "America/Lmia")).unwrap();
    let out = dir.path().join("out");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(["dashboards", "--config"])
        .arg(&bad)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("site.timezone"), "{stderr}");
    assert!(!out.exists(), "nothing written for an invalid config");
}

#[test]
fn dashboards_have_the_structure_grafana_needs() {
    let files = dashboard_files();
    assert_eq!(files.len(), 5, "overview, three areas, gateway health");
    let mut uids = HashSet::new();
    let mut titles = BTreeSet::new();
    let mut total_panels = 0;
    let mut total_targets = 0;
    for (path, d) in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no uid"));
        assert!(uids.insert(uid.to_string()), "{name}: duplicate uid {uid}");
        assert!(
            uid.len() <= 40,
            "{name}: Grafana uids are at most 40 characters"
        );
        titles.insert(d["title"].as_str().unwrap().to_string());
        assert!(d["schemaVersion"].as_u64().unwrap() >= 36, "{name}");
        assert!(
            d["id"].is_null(),
            "{name}: provisioned dashboards carry no id"
        );
        // Template variables: site and plc, InfluxQL SHOW TAG VALUES.
        let vars = d["templating"]["list"].as_array().unwrap();
        let var_names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(var_names, ["site", "plc"], "{name}");
        for v in vars {
            assert_eq!(
                v["datasource"]["uid"], DS_UID,
                "{name}: variable {}",
                v["name"]
            );
            assert!(
                v["query"].as_str().unwrap().starts_with("SHOW TAG VALUES"),
                "{name}: {}",
                v["query"]
            );
        }
        let mut ids = HashSet::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or("?");
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: {title}: no id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            let g = &p["gridPos"];
            for k in ["x", "y", "w", "h"] {
                assert!(g[k].is_u64(), "{name}: {title}: gridPos.{k} missing");
            }
            assert!(
                g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
                "{name}: {title}: wider than the grid"
            );
        }
        for p in query_panels(d) {
            total_panels += 1;
            let title = p["title"].as_str().unwrap();
            assert_eq!(p["datasource"]["uid"], DS_UID, "{name}: {title}");
            assert_eq!(p["datasource"]["type"], "influxdb", "{name}: {title}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {title}: no queries");
            let mut refs = HashSet::new();
            for t in targets {
                total_targets += 1;
                assert!(
                    refs.insert(t["refId"].as_str().unwrap()),
                    "{name}: {title}: refId twice"
                );
                assert_eq!(t["datasource"]["uid"], DS_UID, "{name}: {title}");
                assert_eq!(t["rawQuery"], true, "{name}: {title}");
                let q = t["query"].as_str().unwrap();
                assert!(q.contains("$timeFilter"), "{name}: {title}: {q}");
                assert!(q.contains(r#""site" =~ /^$site$/"#), "{name}: {title}: {q}");
                if q.contains("GROUP BY time(") {
                    assert!(
                        q.contains("GROUP BY time($__interval)"),
                        "{name}: {title}: {q}"
                    );
                }
                // Series with a plc tag follow the PLC selector.
                let site_wide = [
                    "FROM \"kpi\"",
                    "FROM \"kpi_daily\"",
                    "FROM \"kpi_reconciled\"",
                    "FROM \"gateway_status\"",
                ];
                if !site_wide.iter().any(|m| q.contains(m)) {
                    assert!(q.contains(r#""plc" =~ /^$plc$/"#), "{name}: {title}: {q}");
                }
            }
        }
    }
    assert_eq!(
        titles,
        BTreeSet::from(
            [
                "Crushing",
                "Flotation",
                "Gateway health",
                "Grinding",
                "Plant overview"
            ]
            .map(String::from)
        )
    );
    eprintln!(
        "{} dashboards, {total_panels} query panels, {total_targets} queries",
        files.len()
    );
}

#[test]
fn area_dashboards_trend_every_shipped_tag_with_its_unit() {
    let cfg = shipped_config();
    let files = dashboard_files();
    let mut n = 0;
    for plc in &cfg.plc {
        let file = format!("plantgw-area-{}.json", plc.area);
        let (_, d) = files
            .iter()
            .find(|(p, _)| p.ends_with(&file))
            .unwrap_or_else(|| panic!("no {file}"));
        let mut covered: BTreeMap<(String, String), String> = BTreeMap::new();
        for p in query_panels(d) {
            let unit = p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("")
                .to_string();
            for t in p["targets"].as_array().unwrap() {
                for key in selected(t["query"].as_str().unwrap()) {
                    covered.insert(key, unit.clone());
                }
            }
        }
        for tag in &plc.tag {
            n += 1;
            let key = (tag.equipment.clone(), tag.name.clone());
            let unit = covered.get(&key).unwrap_or_else(|| {
                panic!("{file}: no panel trends {}.{}", tag.equipment, tag.name)
            });
            if let Some(u) = &tag.unit {
                // Grafana's own unit, or the configured one as a suffix.
                let suffix = format!("suffix:{u}");
                let native = [
                    ("%", "percent"),
                    ("°C", "celsius"),
                    ("kW", "kwatt"),
                    ("kWh", "kwatth"),
                    ("A", "amp"),
                    ("kPa", "pressurekpa"),
                    ("mm", "lengthmm"),
                    ("m/s", "velocityms"),
                    ("s", "s"),
                    ("t", "masst"),
                ];
                let ok = *unit == suffix || native.iter().any(|(c, g)| c == u && unit == g);
                assert!(
                    ok,
                    "{file}: {}.{} in {u} shown as {unit:?}",
                    tag.equipment, tag.name
                );
            }
        }
    }
    assert!(n > 60, "only {n} tags in config/caylloma.toml?");
}

#[test]
fn provisioning_points_grafana_at_the_datasource_and_dashboards() {
    let text = std::fs::read_to_string(repo_path("grafana/provisioning/datasources/plantgw.yaml"))
        .unwrap();
    let v = yaml::parse(&text).unwrap_or_else(|e| panic!("datasources/plantgw.yaml: {e}"));
    assert_eq!(v["apiVersion"], 1);
    let ds = &v["datasources"][0];
    assert_eq!(v["datasources"].as_array().unwrap().len(), 1);
    assert_eq!(ds["uid"], DS_UID);
    assert_eq!(ds["type"], "influxdb");
    assert_eq!(ds["access"], "proxy");
    assert_eq!(ds["url"], "http://127.0.0.1:8086");
    assert_eq!(ds["database"], "plant");
    assert_eq!(ds["jsonData"]["dbName"], "plant");
    assert_eq!(ds["jsonData"]["version"], "InfluxQL");
    assert!(ds["name"].as_str().is_some_and(|n| !n.is_empty()));

    let text =
        std::fs::read_to_string(repo_path("grafana/provisioning/dashboards/plantgw.yaml")).unwrap();
    let v = yaml::parse(&text).unwrap_or_else(|e| panic!("dashboards/plantgw.yaml: {e}"));
    assert_eq!(v["apiVersion"], 1);
    let p = &v["providers"][0];
    assert_eq!(p["type"], "file");
    assert_eq!(p["orgId"], 1);
    let path = p["options"]["path"].as_str().unwrap();
    assert!(
        path.starts_with('/') && path.ends_with("/grafana/dashboards"),
        "{path}"
    );
    // The install guide copies the dashboards exactly there.
    let install = std::fs::read_to_string(repo_path("deploy/README-install.md")).unwrap();
    assert!(
        install.contains(&format!("grafana/dashboards/*.json {path}/")),
        "deploy/README-install.md must copy grafana/dashboards/*.json to {path}/"
    );
    for f in ["datasources/plantgw.yaml", "dashboards/plantgw.yaml"] {
        assert!(
            install.contains(&format!(
                "grafana/provisioning/{f} /etc/grafana/provisioning/{f}"
            )),
            "deploy/README-install.md must install grafana/provisioning/{f}"
        );
    }
}

const SPEED: f64 = 720.0;
/// 05:30 Lima: the production day closes at 07:00, 7.5 s of wall time in,
/// so the run has `kpi_daily` rows as well as `kpi`.
const PLANT_START: &str = "2026-03-02T05:30:00-05:00";

/// A simulated plant at 720x polled by the gateway into a fresh influxd,
/// run until a production day has closed and every series has points.
struct PlantRun {
    influx: InfluxD,
    query: QueryClient,
    time_filter: String,
    _dir: tempfile::TempDir,
}

/// Serves `map`, polls it with `gateway_toml` (its PLC addresses set to
/// the bound ports), and waits for `kpi_daily`, `kpi` and
/// `gateway_status` rows; the gateway and simulator are stopped again.
async fn run_plant(map: PlantMap, gateway_toml: &str) -> PlantRun {
    let influx = InfluxD::start();
    let dir = tempfile::tempdir().unwrap();
    let start: Timestamp = PLANT_START.parse().unwrap();
    let clock = PlantClock::new(start, Timestamp::now(), SPEED);
    let sim = Simulator::start(SimOptions {
        clock,
        seed: 11,
        map: map.on_ephemeral_ports(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let mut cfg = crate::common::sim_gateway_config(gateway_toml, &influx.url, 250, "");
    for plc in cfg["plc"].as_array_mut().unwrap() {
        let name = plc["name"].as_str().unwrap().to_string();
        let addr = sim
            .addr(&name)
            .unwrap_or_else(|| panic!("simulator serves {name}"));
        plc.as_table_mut()
            .unwrap()
            .insert("address".into(), addr.to_string().into());
    }
    let settings = crate::common::write_gateway_config(&dir.path().join("plant.toml"), &cfg);
    let query =
        crate::common::influx::plant_database(settings.influx.as_ref().expect("[influxdb]")).await;

    let cancel = CancellationToken::new();
    // gateway_status every 500 ms here, so the wait below sees a few points.
    let opts = RunOptions {
        status_interval: Duration::from_millis(500),
        ..RunOptions::default()
    };
    let gw = app::start(settings, clock, cancel.clone(), opts)
        .await
        .unwrap();

    // Until the day has closed and every series has a few points.
    crate::common::eventually(
        Duration::from_secs(90),
        "kpi_daily, kpi and gateway_status rows",
        || async {
            let s = query
                .query(r#"SELECT count("ore_dry_t") FROM "kpi_daily"; SELECT count("ore_dry_t") FROM "kpi"; SELECT count("points_written") FROM "gateway_status""#)
                .await
                .ok()?;
            let counts: Vec<i64> = s.iter().filter_map(|s| s.values[0][1].as_i64()).collect();
            (counts.len() == 3 && counts[0] >= 1 && counts[1] >= 30 && counts[2] >= 3).then_some(())
        },
    )
    .await;

    // The reporter's counters are live: lines were written, none refused
    // (the spool may well be empty: it drains as fast as it fills).
    let status = query
        .query(r#"SELECT last("points_written"), last("write_errors"), last("spool_bytes") FROM "gateway_status""#)
        .await
        .unwrap();
    let row = &status[0].values[0];
    assert!(row[1].as_i64().unwrap() > 0, "points_written {row:?}");
    assert_eq!(row[2].as_i64(), Some(0), "write_errors {row:?}");
    assert!(row[3].as_i64().is_some(), "spool_bytes {row:?}");

    // Grafana's $timeFilter for a range covering the run, from the day
    // before (kpi_daily is stamped at the day's start) to now.
    let lo = start.checked_sub(SignedDuration::from_hours(48)).unwrap();
    let hi = clock
        .now()
        .checked_add(SignedDuration::from_hours(1))
        .unwrap();
    let time_filter = format!(
        "time >= {}ms and time <= {}ms",
        lo.as_millisecond(),
        hi.as_millisecond()
    );
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), gw.wait())
        .await
        .unwrap()
        .unwrap();
    sim.shutdown().await.unwrap();
    PlantRun {
        influx,
        query,
        time_filter,
        _dir: dir,
    }
}

/// Runs every template variable (in order, as Grafana resolves them) and
/// every panel query of `dashboards` against the run's influxd; returns how
/// many ran and what failed or came back empty.
async fn run_every_query(run: &PlantRun, dashboards: &[(String, Value)]) -> (usize, Vec<String>) {
    let query = &run.query;
    let mut ran = 0;
    let mut failures = Vec::new();
    for (name, d) in dashboards {
        let mut vars: Vec<(&str, String)> = Vec::new();
        for v in d["templating"]["list"].as_array().unwrap() {
            let var = v["name"].as_str().unwrap();
            let q = substitute(v["query"].as_str().unwrap(), &vars);
            ran += 1;
            let values: Vec<String> = match query.query(&q).await {
                Ok(series) => series
                    .iter()
                    .flat_map(|s| s.column_values("value"))
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                Err(e) => {
                    failures.push(format!("{name}: variable {var}: {e}\n  {q}"));
                    continue;
                }
            };
            if values.is_empty() {
                failures.push(format!("{name}: variable {var}: no values\n  {q}"));
                continue;
            }
            // A multi-value variable set to All: Grafana writes (a|b|c).
            let value = if values.len() == 1 {
                values[0].clone()
            } else {
                format!("({})", values.join("|"))
            };
            vars.push((var, value));
        }
        vars.push(("timeFilter", run.time_filter.clone()));
        vars.push(("__interval", "10m".into()));
        for p in query_panels(d) {
            for t in p["targets"].as_array().unwrap() {
                let q = substitute(t["query"].as_str().unwrap(), &vars);
                ran += 1;
                let title = p["title"].as_str().unwrap();
                match query.query(&q).await {
                    Ok(series) if has_data(&series) => {}
                    Ok(_) => failures.push(format!("{name}: {title}: no data\n  {q}")),
                    Err(e) => failures.push(format!("{name}: {title}: {e}\n  {q}")),
                }
            }
        }
    }
    (ran, failures)
}

/// Every query of `dashboards` answers with data, and there are more than
/// `at_least` of them (a set that lost its panels must not pass).
async fn assert_every_query_answers(
    run: &PlantRun,
    dashboards: &[(String, Value)],
    at_least: usize,
) {
    let (ran, failures) = run_every_query(run, dashboards).await;
    eprintln!("{ran} dashboard queries run against influxd");
    assert!(
        failures.is_empty(),
        "{} of {ran} queries failed:\n{}\ninfluxd log:\n{}",
        failures.len(),
        failures.join("\n"),
        run.influx.log_tail()
    );
    assert!(ran > at_least, "only {ran} queries?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_simulated_plant() {
    let map = PlantMap::caylloma();
    let toml = plantsim::gateway_toml::render(&map);
    let run = run_plant(map, &toml).await;
    let dashboards: Vec<(String, Value)> = dashboard_files()
        .into_iter()
        .map(|(p, v)| (p.file_name().unwrap().to_string_lossy().into_owned(), v))
        .collect();
    // Each area dashboard's plc variable lists exactly that area's PLC.
    for (name, d) in &dashboards {
        if let Some(area) = name
            .strip_prefix("plantgw-area-")
            .and_then(|n| n.strip_suffix(".json"))
        {
            let q = substitute(
                d["templating"]["list"][1]["query"].as_str().unwrap(),
                &[("site", "caylloma".into())],
            );
            let plcs: BTreeSet<String> = run
                .query
                .query(&q)
                .await
                .unwrap()
                .iter()
                .flat_map(|s| s.column_values("value"))
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let plcs: Vec<String> = plcs.into_iter().collect();
            assert_eq!(
                plcs,
                [area],
                "{name}: the plc variable lists the area's PLCs"
            );
        }
    }
    assert_every_query_answers(&run, &dashboards, 80).await;
}

/// A plant laid out unlike Caylloma: `plantgw dashboards` on its config
/// gives a set whose every query answers with data from that config's
/// simulator (`plantsim --from-config` of the same file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_of_another_config_query_data_from_its_simulator() {
    let config = repo_path("tests/ops/fixtures/small_plant.toml");
    let generated = generate_with_binary(&config);
    let names: Vec<&str> = generated.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "plantgw-area-mill.json",
            "plantgw-area-thickening.json",
            "plantgw-gateway-health.json",
            "plantgw-overview.json"
        ]
    );
    let thickening = &generated["plantgw-area-thickening.json"];
    for tag in [
        "torque_pct",
        "underflow_density_pct",
        "bed_level_m",
        "rake_alarm",
        "pump_running",
    ] {
        assert!(
            thickening.contains(tag),
            "thickening dashboard trends {tag}"
        );
    }
    assert!(
        generated["plantgw-overview.json"].contains("450 t/d"),
        "overview against the config's target_tpd"
    );
    let map = plantsim::from_config::load_map(&config).unwrap();
    let run = run_plant(map, &std::fs::read_to_string(&config).unwrap()).await;
    let dashboards: Vec<(String, Value)> = generated
        .iter()
        .map(|(n, t)| (n.clone(), serde_json::from_str(t).unwrap()))
        .collect();
    assert_every_query_answers(&run, &dashboards, 40).await;
}

/// Grafana's variable interpolation, for the variables these dashboards use.
fn substitute(q: &str, vars: &[(&str, String)]) -> String {
    let mut out = q.to_string();
    // Longest names first, so `$plc` never eats a prefix of another name.
    let mut sorted: Vec<&(&str, String)> = vars.iter().collect();
    sorted.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${name}"), value);
    }
    let unresolved = out.char_indices().any(|(i, c)| {
        c == '$' && out[i + 1..].starts_with(|c: char| c.is_alphabetic() || c == '_')
    });
    assert!(!unresolved, "unresolved variable in {out}");
    out
}

/// At least one series with a non-null value outside the time column.
fn has_data(series: &[plantgw::sink::influxdb::query::Series]) -> bool {
    series.iter().any(|s| {
        s.values.iter().any(|row| {
            row.iter()
                .enumerate()
                .any(|(i, v)| s.columns.get(i).is_some_and(|c| c != "time") && !v.is_null())
        })
    })
}
