//! Plant-clock jumps: scan timestamps stay strictly increasing per PLC
//! when the plant clock goes backwards (the poller uses
//! max(clock, last + 1 ms)), and follow the clock again once it is ahead.
//! A one-off jump on one poller is unit-tested in src/source/modbus/poller.rs;
//! here a poller runs against a real peer with a clock that runs backwards
//! the whole time, every scan a jump back.
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use plantgw::config::{DataType, Plc, Table, Tag, TagId};
use plantgw::sample::Value;
use plantgw::source::modbus::poller::Poller;
use plantsim::clock::PlantClock;

use super::peer::{self, Mode, ScriptedPlc};

fn plc(address: String) -> Plc {
    Plc {
        name: "clocked".into(),
        area: "test".into(),
        address,
        unit_id: 1,
        scan: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
        max_gap: 16,
        tags: vec![Tag::new(
            TagId::new("clocked", "test", "clocked_dev", "r0"),
            Table::Holding,
            0,
            DataType::U16,
            0,
        )],
        link: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_timestamps_increase_while_the_plant_clock_runs_backwards() {
    let peer = ScriptedPlc::start(Mode::Healthy).await;
    let now = Timestamp::now();
    let start = now.checked_add(SignedDuration::from_hours(1)).unwrap();
    // Plant time = start − 1000 × (wall time since now): every scan finds
    // the clock earlier than the one before.
    let backwards = PlantClock::new(start, now, -1000.0);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    let mut poller = Poller::new(Arc::new(plc(peer.address())), backwards, tx);
    let mut stamps = Vec::new();
    let mut clock_readings = Vec::new();
    for _ in 0..20 {
        clock_readings.push(backwards.now().as_millisecond());
        let scan = poller.scan_once().await;
        assert!(scan.status.connected, "scan failed: {:?}", scan.status);
        assert_eq!(
            scan.readings[0].value,
            Some(Value::Int(i64::from(peer::holding(0))))
        );
        stamps.push(scan.ts_ms);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        clock_readings.windows(2).all(|w| w[1] < w[0]),
        "the test clock did not run backwards: {clock_readings:?}"
    );
    assert!(
        stamps.windows(2).all(|w| w[1] > w[0]),
        "scan timestamps not strictly increasing: {stamps:?}"
    );
    // Clamped to last + 1 ms: no invented time beyond what is needed.
    assert_eq!(stamps[19] - stamps[0], 19, "{stamps:?}");
    assert!(stamps[0] <= start.as_millisecond());
}
