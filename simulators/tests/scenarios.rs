//! Scenario effects: process events on the deterministic core, comms faults
//! on live listeners.

use std::io::Write;
use std::time::{Duration, Instant};

use plantsim::image::PlcImage;
use plantsim::map::PlantMap;
use plantsim::model::{
    CrushingSignal as C, FlotationSignal as F, GrindingSignal as G, Metal, Signal, Stream,
};
use plantsim::registers::{decode, Value};
use plantsim::sim::SimCore;
use plantsim::Scenario;
use tokio_modbus::client::Reader;
use tokio_modbus::ExceptionCode;

use crate::common::{self, DAY_START};

fn num(core: &SimCore, s: Signal) -> f64 {
    core.plant().read(s).as_f64().expect("numeric signal")
}

fn flag(core: &SimCore, s: Signal) -> bool {
    core.plant().read(s).as_bool()
}

fn run_minutes(core: &mut SimCore, minutes: i64) {
    for _ in 0..minutes * 60 {
        core.step();
    }
}

/// The value a client would decode for a tag right now.
fn served(core: &SimCore, map: &PlantMap, key: &str) -> Value {
    let (pi, plc) = map
        .plcs
        .iter()
        .enumerate()
        .find(|(_, p)| p.tags.iter().any(|t| t.key() == key))
        .expect("tag exists");
    let tag = plc.tags.iter().find(|t| t.key() == key).expect("tag");
    let mut image = PlcImage::new(plc);
    image.render(plc, pi, core);
    let at = usize::from(tag.address);
    let regs = &image.registers(tag.table)[at..at + usize::from(tag.width())];
    decode(regs, &tag.encoding()).expect("decodes")
}

#[test]
fn crusher_trip_drains_the_bin_and_then_stops_the_mill_feed() {
    let (mut core, _) = common::core(Scenario::builtin("crusher_trip").expect("builtin"), 5);
    run_minutes(&mut core, 61);
    assert!(flag(&core, Signal::Crushing(C::CrusherTripped)));
    assert!(!flag(&core, Signal::Crushing(C::CrusherRunning)));
    let mut level = num(&core, Signal::Crushing(C::BinLevel));
    let mut fed_until = None;
    for minute in 61..(21 * 60) {
        run_minutes(&mut core, 1);
        let now = num(&core, Signal::Crushing(C::BinLevel));
        assert!(
            now <= level + 1e-9,
            "bin rose during the trip at minute {minute}"
        );
        level = now;
        let rate = num(&core, Signal::Grinding(G::BeltRate));
        if fed_until.is_none() && rate < 0.5 {
            fed_until = Some(minute);
            assert!(level < 0.1, "feed stopped with {level} % in the bin");
            assert!(flag(&core, Signal::Crushing(C::BinLowAlarm)));
        }
        if fed_until.is_some_and(|m| minute > m + 15) {
            break;
        }
    }
    let stopped_at = fed_until.expect("the bin ran empty and the belt stopped");
    // The mill grinds out and stops on its no-feed interlock.
    assert!(!flag(&core, Signal::Grinding(G::MillRunning)));
    assert!(num(&core, Signal::Grinding(G::MillPower)) < 5.0);
    // It had kept running, drawing the bin down, for hours before that.
    assert!(stopped_at > 6 * 60, "{stopped_at}");
    // After the trip clears, the crusher refills the bin and the mill restarts.
    run_minutes(&mut core, (24 * 60) - stopped_at as i64 - 15);
    assert!(flag(&core, Signal::Grinding(G::MillRunning)));
    let days: Vec<_> = core
        .drain_closed()
        .into_iter()
        .filter(|r| r.kind == plantsim::PeriodKind::Day)
        .collect();
    assert_eq!(days.len(), 1);
    assert!(
        days[0].mill_run_h < 22.0 && days[0].dry_t < 650.0,
        "{:?}",
        days[0]
    );
}

#[test]
fn mill_stop_is_a_maintenance_window_with_no_feed() {
    let (mut core, map) = common::core(Scenario::builtin("mill_stop").expect("builtin"), 2);
    run_minutes(&mut core, 3 * 60);
    let total_before = served(&core, &map, "mill_feed_belt.total_t");
    assert!(flag(&core, Signal::Grinding(G::Maintenance)));
    assert!(!flag(&core, Signal::Grinding(G::MillRunning)));
    assert!(num(&core, Signal::Grinding(G::MillPower)) < 1.0);
    assert!(num(&core, Signal::Grinding(G::BeltRate)) < 0.01);
    run_minutes(&mut core, 60);
    assert_eq!(served(&core, &map, "mill_feed_belt.total_t"), total_before);
    // The crusher fills the bin to its stop level and waits.
    assert!(num(&core, Signal::Crushing(C::BinLevel)) <= 86.0);
    run_minutes(&mut core, 7 * 60);
    assert!(flag(&core, Signal::Grinding(G::MillRunning)));
    assert!(num(&core, Signal::Grinding(G::MillPower)) > 350.0);
    let day = core.truth().day;
    assert!((day.mill_run_h - 3.0).abs() < 0.05, "{}", day.mill_run_h);
}

#[test]
fn low_grade_shift_lowers_the_head_grade_for_about_twelve_hours() {
    let feed_ag = Signal::Flotation(F::Assay(Stream::Feed, Metal::Ag));
    let (mut low, _) = common::core(Scenario::builtin("low_grade").expect("builtin"), 3);
    let (mut normal, _) = common::core(Scenario::normal(), 3);
    run_minutes(&mut low, 6 * 60);
    run_minutes(&mut normal, 6 * 60);
    let (l, n) = (num(&low, feed_ag), num(&normal, feed_ag));
    assert!(l < 230.0 && n > l + 40.0, "low {l}, normal {n}");
    run_minutes(&mut low, 12 * 60);
    run_minutes(&mut normal, 12 * 60);
    let (l, n) = (num(&low, feed_ag), num(&normal, feed_ag));
    assert!((l - n).abs() < 10.0, "recovered: low {l}, normal {n}");
}

#[test]
fn analyser_fault_freezes_the_assays_then_reads_out_of_range() {
    let (mut core, map) = common::core(Scenario::builtin("analyser_fault").expect("builtin"), 4);
    let key = "flotation_feed.ag_gpt";
    let (_, tag) = map.tag(key).expect("tag");
    let max = tag.max.expect("max");
    run_minutes(&mut core, 50);
    let before = served(&core, &map, key);
    run_minutes(&mut core, 20);
    let frozen = served(&core, &map, key);
    assert_ne!(before, frozen, "the analyser was updating before the fault");
    run_minutes(&mut core, 40);
    assert_eq!(served(&core, &map, key), frozen, "results freeze");
    assert!(
        !flag(&core, Signal::Flotation(F::AnalyserFault)),
        "a freeze raises no alarm"
    );
    let true_ag = core.plant().flotation.assays().feed[0];
    let shown = frozen.as_f64().expect("number");
    assert!(
        (true_ag - shown).abs() > 0.01,
        "the process kept drifting: {true_ag} vs {shown}"
    );
    run_minutes(&mut core, 40);
    let broken = served(&core, &map, key).as_f64().expect("number");
    assert!(broken < tag.min.unwrap_or(0.0) || broken > max, "{broken}");
    assert!(flag(&core, Signal::Flotation(F::AnalyserFault)));
    run_minutes(&mut core, 2 * 60);
    let back = served(&core, &map, key).as_f64().expect("number");
    assert!((200.0..=360.0).contains(&back), "{back}");
    assert!(!flag(&core, Signal::Flotation(F::AnalyserFault)));
}

#[test]
fn a_scenario_file_sets_the_totaliser_so_it_rolls_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rollover.toml");
    std::fs::File::create(&path)
        .and_then(|mut f| {
            f.write_all(
                b"totaliser_start_t = 4294967.0\n\
                  [[event]]\nkind = \"totaliser_set\"\noffset = \"1h\"\nvalue_t = 4294960.0\n",
            )
        })
        .expect("write scenario");
    let scenario = Scenario::from_file(&path).expect("scenario parses");
    let (mut core, map) = common::core(scenario, 1);
    let start = served(&core, &map, "mill_feed_belt.total_t")
        .as_f64()
        .expect("n");
    assert!((start - 4_294_967.0).abs() < 0.001, "{start}");
    run_minutes(&mut core, 2);
    let wrapped = served(&core, &map, "mill_feed_belt.total_t")
        .as_f64()
        .expect("n");
    assert!(wrapped < 5.0, "wrapped to {wrapped}");
    let wet = core.truth().run.wet_t;
    // 0.296 t to the wrap, then what the register shows.
    assert!(
        (wet - (0.296 + wrapped)).abs() < 0.002,
        "wet {wet}, register {wrapped}"
    );
    run_minutes(&mut core, 59);
    let set = served(&core, &map, "mill_feed_belt.total_t")
        .as_f64()
        .expect("n");
    assert!((4_294_960.0..4_294_961.0).contains(&set), "{set}");
}

fn comms_file(dir: &std::path::Path, body: &str) -> Scenario {
    let path = dir.join("comms.toml");
    std::fs::write(&path, body).expect("write scenario");
    Scenario::from_file(&path).expect("scenario parses")
}

#[tokio::test]
async fn comms_faults_make_plcs_silent_slow_or_exceptional() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = comms_file(
        dir.path(),
        r#"
        [[event]]
        kind = "comms_fault"
        offset = "0s"
        duration = "10h"
        plc = "grinding"
        mode = "silent"
        [[event]]
        kind = "comms_fault"
        offset = "0s"
        duration = "10h"
        plc = "flotation"
        mode = "exception"
        exception = 4
        [[event]]
        kind = "comms_fault"
        offset = "0s"
        duration = "10h"
        plc = "crushing"
        mode = "slow"
        delay_ms = 400
        "#,
    );
    let sim = common::start(common::options(DAY_START, 1.0, scenario)).await;
    let mut grinding = common::connect(sim.addr("grinding").expect("g"), 1).await;
    let silent = tokio::time::timeout(
        Duration::from_millis(300),
        grinding.read_holding_registers(0, 2),
    )
    .await;
    assert!(silent.is_err(), "grinding answered: {silent:?}");

    let mut flotation = common::connect(sim.addr("flotation").expect("f"), 1).await;
    assert_eq!(
        flotation.read_input_registers(0, 2).await.expect("link"),
        Err(ExceptionCode::ServerDeviceFailure)
    );

    let mut crushing = common::connect(sim.addr("crushing").expect("c"), 1).await;
    let t = Instant::now();
    assert!(crushing
        .read_input_registers(0, 2)
        .await
        .expect("link")
        .is_ok());
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn a_disconnect_fault_closes_links_and_refuses_new_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = comms_file(
        dir.path(),
        "[[event]]\nkind = \"comms_fault\"\noffset = \"0s\"\nduration = \"10h\"\n\
         plc = \"grinding\"\nmode = \"disconnect\"\n",
    );
    let sim = common::start(common::options(DAY_START, 1.0, scenario)).await;
    let addr = sim.addr("grinding").expect("g");
    for _ in 0..3 {
        let r = match tokio_modbus::client::tcp::connect_slave(addr, tokio_modbus::Slave(1)).await {
            Ok(mut ctx) => {
                tokio::time::timeout(Duration::from_secs(2), ctx.read_holding_registers(0, 2))
                    .await
                    .map(|r| r.is_err())
            }
            Err(_) => Ok(true),
        };
        assert_eq!(r, Ok(true), "expected a dropped link");
    }
    // The other PLCs are unaffected.
    let mut crushing = common::connect(sim.addr("crushing").expect("c"), 1).await;
    assert!(crushing
        .read_input_registers(0, 2)
        .await
        .expect("link")
        .is_ok());
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test]
async fn the_builtin_comms_faults_scenario_produces_timeouts_and_exceptions() {
    // 720x: the hourly fault cycle takes 5 s of wall time.
    let sim = common::start(common::options(
        DAY_START,
        720.0,
        Scenario::builtin("comms_faults").expect("builtin"),
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(12);
    let (mut saw_timeout, mut saw_busy) = (false, false);
    let mut crushing = common::connect(sim.addr("crushing").expect("c"), 1).await;
    let grinding_addr = sim.addr("grinding").expect("g");
    while Instant::now() < deadline && !(saw_timeout && saw_busy) {
        if let Ok(Ok(Err(ExceptionCode::ServerDeviceBusy))) = tokio::time::timeout(
            Duration::from_millis(500),
            crushing.read_input_registers(0, 2),
        )
        .await
        {
            saw_busy = true;
        }
        if let Ok(Ok(mut g)) = tokio::time::timeout(
            Duration::from_millis(300),
            tokio_modbus::client::tcp::connect_slave(grinding_addr, tokio_modbus::Slave(1)),
        )
        .await
        {
            if tokio::time::timeout(Duration::from_millis(200), g.read_holding_registers(0, 2))
                .await
                .is_err()
            {
                saw_timeout = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_busy, "crushing never answered exception 6");
    assert!(saw_timeout, "grinding never went silent");
    sim.shutdown().await.expect("clean shutdown");
}
