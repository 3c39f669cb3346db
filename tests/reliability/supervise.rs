//! A poller task that panics is restarted: its PLC's scans keep arriving,
//! the other PLC never notices, and the restart is counted per PLC.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use plantgw::app::{FaultHook, RunOptions};

use super::{
    pymodbus_plc, query_client, run_options, start_gateway_with, status_ts, stop_gateway,
    GatewayToml,
};
use crate::common::eventually;
use crate::common::influx::InfluxD;
use crate::common::pymodbus::PymodbusPlc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_poller_is_restarted_and_counted() {
    // Installs the process-wide recorder before any counter is touched.
    let metrics = plantgw::http::prometheus().expect("metrics recorder");
    let plc = PymodbusPlc::start();
    let influx = InfluxD::start();
    let q = query_client(&influx.url).await;
    let dir = tempfile::tempdir().unwrap();
    let plcs = ["panicky", "steady"];
    let settings = GatewayToml::new(
        &influx.url,
        &dir.path().join("spool"),
        plcs.iter()
            .map(|name| pymodbus_plc(name, plc.port, 200))
            .collect(),
    )
    .write_and_load(&dir.path().join("gw.toml"));

    // The first two starts of `panicky`'s poller panic inside its task.
    let starts = Arc::new(AtomicUsize::new(0));
    let hook = {
        let starts = starts.clone();
        FaultHook(Arc::new(move |plc: &str| {
            if plc == "panicky" && starts.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("injected poller fault");
            }
        }))
    };
    let (gw, cancel) = start_gateway_with(
        settings,
        RunOptions {
            poller_fault: Some(hook),
            ..run_options()
        },
    )
    .await;

    eventually(
        Duration::from_secs(30),
        "scans of the restarted poller in InfluxDB",
        || async { (status_ts(&q, "panicky").await.len() >= 5).then_some(()) },
    )
    .await;
    assert!(!gw.is_finished(), "a poller panic stopped the gateway");
    assert_eq!(starts.load(Ordering::SeqCst), 3, "poller starts");
    let steady = status_ts(&q, "steady").await;
    let panicky = status_ts(&q, "panicky").await;
    // The steady PLC scanned all along, through both restarts (1 s + 2 s).
    assert!(
        steady.first() < panicky.first() && steady.len() >= panicky.len() + 10,
        "steady {} scans from {:?}, panicky {} from {:?}",
        steady.len(),
        steady.first(),
        panicky.len(),
        panicky.first()
    );
    let text = metrics.render();
    let line = text
        .lines()
        .find(|l| l.starts_with("plantgw_poller_restarts_total{") && l.contains("plc=\"panicky\""))
        .unwrap_or_else(|| panic!("no restart counter for panicky in:\n{text}"));
    assert!(line.ends_with(" 2"), "{line}");
    assert!(
        !text.contains("plantgw_poller_restarts_total{plc=\"steady\"}"),
        "steady was never restarted"
    );
    stop_gateway(gw, cancel).await;
}
