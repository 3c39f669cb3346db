mod cli;
mod config_errors;
mod demo;
mod pymodbus_e2e;
mod v2_victoria;

/// A v1 config polling the pymodbus fixture's `u16` (holding 0) every
/// 200 ms into `influx_url`'s `plant` database; `influxdb` ends the
/// `[influxdb]` section and `extra` the file.
pub fn fixture_config(influx_url: &str, plc_port: u16, influxdb: &str, extra: &str) -> String {
    format!(
        r#"
[site]
name = "testsite"

[influxdb]
url = "{influx_url}"
api = "v1"
database = "plant"
{influxdb}
[spool]
dir = "spool"

[http]
listen = ""

[[plc]]
name = "fixture"
area = "lab"
address = "127.0.0.1:{plc_port}"
scan_ms = 200

[[plc.tag]]
name = "u16"
equipment = "fixture_dev"
table = "holding"
address = 0
type = "u16"
{extra}"#
    )
}
