//! Operations: Grafana dashboards and provisioning, `/metrics` and
//! `/healthz`, the systemd unit and production config template, and the
//! `plantgw tags` I/O-list import/export.
mod dashboards;
mod deploy;
mod metrics;
mod tags;
mod yaml;
