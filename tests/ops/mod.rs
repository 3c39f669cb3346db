//! Operations: Grafana dashboards and provisioning, `/metrics` and
//! `/healthz`, the systemd unit and production config template, and the
//! `plantgw tags` I/O-list import/export, and what an operator meets first
//! (logs in a file or the journal, `--version`, the build on `/metrics`).
mod dashboards;
mod deploy;
mod metrics;
mod operator;
mod tags;
mod yaml;
