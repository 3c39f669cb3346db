//! Every metric `/metrics` exports, with its `# HELP` text. The metrics are
//! recorded where things happen (poller, delivery, spool, KPI engine); this
//! list only describes them, and registers the unlabelled counters at zero
//! so `rate()` and alerts see a 0 from start-up rather than a missing series
//! until the first event (a spool that never overflowed has dropped 0 records).
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

pub const SCAN_DURATION: &str = "plantgw_plc_scan_duration_seconds";

/// Counters without labels, registered at 0 on start-up.
const ZERO_COUNTERS: [&str; 8] = [
    "plantgw_write_requests_total",
    "plantgw_points_written_total",
    "plantgw_spool_dropped_records_total",
    "plantgw_spool_dropped_bytes_total",
    "plantgw_spool_corrupt_records_total",
    "plantgw_spool_truncated_bytes_total",
    "plantgw_kpi_totaliser_resets_total",
    "plantgw_status_reports_total",
];

/// The `plantgw_kpi_*` gauges, one per numeric `kpi` field.
const KPI_GAUGES: [(&str, &str); 15] = [
    (
        "ore_dry_t",
        "Dry tonnes milled so far in the production day",
    ),
    (
        "ore_wet_t",
        "Wet tonnes milled so far in the production day",
    ),
    ("throughput_tph", "Mill throughput, dry t/h"),
    (
        "projected_day_t",
        "Dry tonnes projected for the whole production day",
    ),
    ("target_tpd", "Plant capacity target, t/day"),
    (
        "mill_availability_pct",
        "Share of the production day the mill ran, %",
    ),
    ("ag_head_gpt", "Tonnage-weighted silver head grade, g/t"),
    (
        "ag_recovery_pct",
        "Silver recovery to the Pb-Ag concentrate, %",
    ),
    ("ag_oz", "Silver recovered in the production day, troy oz"),
    ("ag_oz_ytd", "Silver recovered in the year to date, troy oz"),
    (
        "ag_projected_oz_year",
        "Silver projected for the year, troy oz",
    ),
    (
        "ag_oz_pace_year",
        "Silver pace for the year: mean of the last 7 closed days x 365, troy oz",
    ),
    ("target_oz_year", "Silver target for the year, troy oz"),
    (
        "good_data_pct",
        "Share of the day's KPI inputs with good quality, %",
    ),
    (
        "totaliser_resets",
        "Belt-scale totaliser resets seen in the production day",
    ),
];

pub fn describe() {
    describe_nats();
    describe_counter!("plantgw_plc_scans_total", "Scans completed, per PLC");
    describe_counter!(
        "plantgw_poller_restarts_total",
        "Poller tasks restarted after a panic, per PLC"
    );
    describe_counter!(
        "plantgw_plc_requests_total",
        "Modbus requests sent, per PLC"
    );
    describe_counter!(
        "plantgw_plc_errors_total",
        "Modbus requests that failed (exception, protocol or connection error), per PLC"
    );
    describe_counter!(
        "plantgw_plc_timeouts_total",
        "Modbus requests that timed out, per PLC"
    );
    describe_histogram!(
        SCAN_DURATION,
        Unit::Seconds,
        "Wall time of a scan from first request to last answer, per PLC"
    );
    describe_gauge!(
        "plantgw_plc_connected",
        "1 while the PLC's Modbus connection is up, per PLC"
    );
    describe_counter!(
        "plantgw_write_requests_total",
        "InfluxDB write requests sent"
    );
    describe_counter!(
        "plantgw_write_errors_total",
        "InfluxDB write requests not accepted, by HTTP status (or \"network\")"
    );
    describe_counter!("plantgw_points_written_total", "Lines accepted by InfluxDB");
    describe_counter!(
        "plantgw_points_dropped_total",
        "Lines InfluxDB rejected as bad data or too large, by reason; they are not retried"
    );
    describe_gauge!(
        "plantgw_influx_up",
        "1 while InfluxDB accepts writes, 0 while writes fail and data waits in the spool"
    );
    describe_gauge!(
        "plantgw_influx_auth_failed",
        "1 while InfluxDB refuses the credentials, org, bucket or database"
    );
    describe_gauge!(
        "plantgw_spool_bytes",
        Unit::Bytes,
        "Spool segment bytes on disk (bounded by spool.max_bytes)"
    );
    describe_gauge!(
        "plantgw_spool_records",
        "Spooled batches not yet acknowledged by InfluxDB"
    );
    describe_counter!(
        "plantgw_spool_dropped_records_total",
        "Undelivered batches deleted because the spool or its disk was full"
    );
    describe_counter!(
        "plantgw_spool_dropped_bytes_total",
        Unit::Bytes,
        "Bytes of undelivered batches deleted because the spool or its disk was full"
    );
    describe_counter!(
        "plantgw_spool_corrupt_records_total",
        "Damaged spool records skipped"
    );
    describe_counter!(
        "plantgw_spool_truncated_bytes_total",
        Unit::Bytes,
        "Bytes of torn writes cut off the spool's end at start-up"
    );
    describe_counter!(
        "plantgw_kpi_totaliser_resets_total",
        "Belt-scale totaliser resets (a drop not explained by rollover)"
    );
    describe_counter!(
        "plantgw_status_reports_total",
        "gateway_status points spooled for InfluxDB"
    );
    describe_gauge!(
        "plantgw_build_info",
        "Always 1; the labels name the running build's version and git commit"
    );
    metrics::gauge!(
        "plantgw_build_info",
        "version" => crate::telemetry::VERSION,
        "commit" => crate::telemetry::COMMIT
    )
    .set(1.0);
    for (field, help) in KPI_GAUGES {
        describe_gauge!(format!("plantgw_kpi_{field}"), help);
    }
    for name in ZERO_COUNTERS {
        metrics::counter!(name).increment(0);
    }
}

/// The JetStream sink's and the relay's metrics (DESIGN §10).
fn describe_nats() {
    describe_counter!(
        "plantgw_nats_published_total",
        "Spool records the JetStream stream acknowledged (PubAck)"
    );
    describe_counter!(
        "plantgw_nats_duplicates_total",
        "Resent records the stream recognised by their Nats-Msg-Id and stored once"
    );
    describe_counter!(
        "plantgw_nats_publish_errors_total",
        "Publishes that got no PubAck (retried)"
    );
    describe_gauge!(
        "plantgw_nats_up",
        "1 while the last publish to JetStream was acknowledged"
    );
    describe_counter!(
        "plantgw_relay_messages_total",
        "Messages the relay handled, by result: written, rejected (bad data, dropped), foreign (not a plantgw batch)"
    );
    describe_counter!(
        "plantgw_relay_acked_total",
        "Messages the relay acked after handling them"
    );
    describe_counter!(
        "plantgw_relay_ack_errors_total",
        "Acks the server did not confirm (the message comes again)"
    );
    describe_counter!(
        "plantgw_relay_redelivered_total",
        "Messages the relay received again: another relay (or this one) took them and did not ack within ack_wait"
    );
    describe_counter!(
        "plantgw_relay_points_written_total",
        "Lines the relay wrote to InfluxDB"
    );
    describe_counter!(
        "plantgw_relay_points_rejected_total",
        "Lines InfluxDB refused as bad data, dropped"
    );
    describe_histogram!(
        "plantgw_relay_write_seconds",
        Unit::Seconds,
        "InfluxDB write time of one relayed fetch (one request, or one per message after a refusal)"
    );
    describe_gauge!(
        "plantgw_relay_lag_seconds",
        Unit::Seconds,
        "Age of the newest point of the last relayed batch when InfluxDB stored it: end-to-end latency"
    );
}
