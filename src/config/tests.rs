//! Config errors must name the file, the key and the reason.
use super::*;
use std::io::Write;
use std::sync::Arc;

const BASE: &str = r#"
[site]
name = "caylloma"
timezone = "America/Lima"

[influxdb]
url = "http://127.0.0.1:8086"
api = "v1"
database = "plant"

[[plc]]
name = "grinding"
area = "grinding"
address = "127.0.0.1:5021"

[[plc.tag]]
name = "feed_rate_tph"
equipment = "mill_feed_belt"
table = "holding"
address = 0
type = "f32"
order = "CDAB"
"#;

fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

fn error_of(text: &str) -> String {
    let (_d, path) = write(text);
    let e = load(&path).expect_err("config should be refused");
    let s = e.to_string();
    assert!(
        s.contains("plant.toml"),
        "error does not name the file: {s}"
    );
    s
}

fn with_tag(extra: &str) -> String {
    format!("{BASE}\n[[plc.tag]]\nname = \"x\"\nequipment = \"e\"\n{extra}\n")
}

#[test]
fn base_config_is_valid() {
    let (_d, path) = write(BASE);
    let s = load(&path).unwrap();
    assert_eq!(s.plcs[0].tags[0].order, ByteOrder::CDAB);
    assert_eq!(s.plcs[0].max_gap, 16);
    assert_eq!(s.spool.dir, path.parent().unwrap().join("var/spool"));
}

#[test]
fn unknown_key_and_bad_type_name_the_line() {
    let e = error_of(&BASE.replace("order = \"CDAB\"", "order = \"CDAB\"\nsclae = 2.0"));
    assert!(
        e.contains("plant.toml:23:1: plc[0].tag[0].sclae: unknown key (did you mean `scale`?)"),
        "{e}"
    );
    let e = error_of(&BASE.replace("type = \"f32\"", "type = \"f33\""));
    assert!(e.contains("plc[0].tag[0].type") && e.contains("f33"), "{e}");
    let e = error_of(&BASE.replace("address = 0", "address = \"zero\""));
    assert!(
        e.contains(":20:11: plc[0].tag[0].address: invalid type"),
        "{e}"
    );
}

/// Neither the toml crate's quoted line nor serde's quoted value may carry
/// a secret into the message.
#[test]
fn secrets_stay_out_of_parse_errors() {
    let db = "database = \"plant\"";
    for (line, key) in [
        ("pasword = \"s3cr3t-XYZ\"", "influxdb.pasword"),
        ("password = 987654321", "influxdb.password"),
        ("token = [\"s3cr3t-XYZ\"]", "influxdb.token"),
        ("token = \"s3cr3t-XYZ", "influxdb.token"),
        ("token = \"\"\"s3cr3t-XYZ\n", "influxdb.token"),
    ] {
        let e = error_of(&BASE.replace(db, &format!("{db}\n{line}")));
        // An unterminated multi-line string ends at the end of the file.
        let at = if line.contains("\"\"\"") {
            ":25:"
        } else {
            "plant.toml:10:"
        };
        assert!(e.contains(at), "{e}");
        assert!(e.contains(key), "{key} not in: {e}");
        assert!(
            !e.contains("s3cr3t-XYZ") && !e.contains("987654321"),
            "secret printed: {e}"
        );
    }
    let (_d, path) = write(&BASE.replace(db, &format!("{db}\nusername = \"u\"")));
    let e = load_raw_with_env(
        &path,
        vec![("PLANTGW_INFLUXDB__PASWORD".into(), "s3cr3t-XYZ".into())],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("PLANTGW_INFLUXDB__PASWORD") && e.contains("did you mean `password`?"),
        "{e}"
    );
    assert!(!e.contains("s3cr3t-XYZ"), "secret printed: {e}");
}

#[test]
fn url_errors_hide_credentials() {
    let e = error_of(&BASE.replace("http://127.0.0.1:8086", "http://admin:s3cr3t-XYZ@"));
    assert!(e.contains("influxdb.url") && e.contains("***@"), "{e}");
    assert!(!e.contains("s3cr3t-XYZ"), "secret printed: {e}");
}

/// The environment's values are strings: a password of digits keeps its
/// leading zero.
#[test]
fn env_secrets_keep_their_text() {
    let (_d, path) = write(&BASE.replace(
        "database = \"plant\"",
        "database = \"plant\"\nusername = \"u\"",
    ));
    let env = vec![
        ("PLANTGW_INFLUXDB__PASSWORD".to_string(), "0123".to_string()),
        ("PLANTGW_INFLUXDB__GZIP".to_string(), "false".to_string()),
        (
            "PLANTGW_INFLUXDB__TIMEOUT_MS".to_string(),
            "0250".to_string(),
        ),
    ];
    let raw = load_raw_with_env(&path, env).unwrap();
    let influxdb = raw.influxdb.as_ref().unwrap();
    assert_eq!(influxdb.password.as_ref().map(Secret::expose), Some("0123"));
    assert!(!influxdb.gzip);
    assert_eq!(influxdb.timeout_ms, 250);
}

#[test]
fn semantic_errors_name_key_and_reason() {
    let cases = [
        (
            with_tag("table = \"holding\"\naddress = 40\ntype = \"bool\"\nbit = 16"),
            "plc[0].tag[1].bit",
            "out of range 0–15",
        ),
        (
            with_tag("table = \"holding\"\naddress = 40\ntype = \"string\""),
            "plc[0].tag[1].length",
            "needs length",
        ),
        (
            with_tag("table = \"holding\"\naddress = 1\ntype = \"u16\""),
            "plc[0].tag[1].address",
            "overlaps",
        ),
        (
            with_tag("table = \"coil\"\naddress = 1\ntype = \"f32\""),
            "plc[0].tag[1].type",
            "must be \"bool\"",
        ),
        (
            with_tag("table = \"holding\"\naddress = 65535\ntype = \"u32\""),
            "plc[0].tag[1].address",
            "past the last Modbus address",
        ),
        (
            with_tag("table = \"holding\"\naddress = 50\ntype = \"u16\"\norder = \"CDAB\""),
            "plc[0].tag[1].order",
            "multi-register",
        ),
        (
            with_tag("table = \"holding\"\naddress = 50\ntype = \"f32\"\nmin = 10.0\nmax = 1.0"),
            "plc[0].tag[1].max",
            "greater than min",
        ),
        (
            BASE.replace("America/Lima", "America/Lmia"),
            "site.timezone",
            "unknown time zone",
        ),
        (
            BASE.replace("address = \"127.0.0.1:5021\"", "address = \"plc-grinding\""),
            "plc[0].address",
            "host:port",
        ),
        (
            BASE.replace("api = \"v1\"\ndatabase = \"plant\"", "api = \"v2\""),
            "influxdb.org",
            "required",
        ),
    ];
    for (text, key, reason) in cases {
        let e = error_of(&text);
        assert!(
            e.contains(key) && e.contains(reason),
            "expected {key}: {reason} in:\n{e}"
        );
    }
}

#[test]
fn bits_of_one_register_may_share_it_but_not_a_bit() {
    let ok = with_tag("table = \"holding\"\naddress = 40\ntype = \"bool\"\nbit = 0")
        + "\n[[plc.tag]]\nname = \"y\"\nequipment = \"e\"\ntable = \"holding\"\naddress = 40\ntype = \"bool\"\nbit = 1\n";
    let (_d, path) = write(&ok);
    assert!(load(&path).is_ok());
    let e = error_of(&ok.replace("bit = 1", "bit = 0"));
    assert!(e.contains("bit 0 of register 40 is also e.x"), "{e}");
}

#[test]
fn all_errors_are_reported_at_once() {
    let e = error_of(
        &BASE
            .replace("America/Lima", "Mars/Base")
            .replace("127.0.0.1:5021", "nope"),
    );
    assert!(e.contains("2 errors"), "{e}");
}

#[test]
fn env_overrides_and_secrets() {
    let v2 = BASE.replace(
        "api = \"v1\"\ndatabase = \"plant\"",
        "api = \"v2\"\norg = \"fortuna\"\nbucket = \"plant\"",
    );
    let (_d, path) = write(&v2);
    let env = vec![
        (
            "PLANTGW_INFLUXDB__TOKEN".to_string(),
            "s3cret-token".to_string(),
        ),
        (
            "PLANTGW_INFLUXDB__BATCH_SIZE".to_string(),
            "100".to_string(),
        ),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let raw = load_raw_with_env(&path, env).unwrap();
    assert_eq!(raw.influxdb.as_ref().unwrap().batch_size, 100);
    let s = validate(&raw, path.parent().unwrap()).unwrap();
    let InfluxTarget::V2 { token, .. } = &s.influx.as_ref().unwrap().target else {
        panic!("v2 expected")
    };
    assert_eq!(token.expose(), "s3cret-token");
    let shown = format!(
        "{s:?} {}",
        serde_json::to_string(&crate::check::report(&s)).unwrap()
    );
    assert!(!shown.contains("s3cret-token"), "token leaked: {shown}");
    let bad = load_raw_with_env(
        &path,
        vec![("PLANTGW_INFLUXDB__BATCH_SIZE".into(), "many".into())],
    )
    .unwrap_err();
    assert!(bad.to_string().contains("influxdb.batch_size"), "{bad}");
}

#[test]
fn token_file_and_plain_http_to_remote_hosts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
    let v2 = BASE.replace(
        "api = \"v1\"\ndatabase = \"plant\"",
        "api = \"v2\"\norg = \"o\"\nbucket = \"b\"\ntoken_file = \"token\"",
    );
    let path = dir.path().join("plant.toml");
    std::fs::write(&path, &v2).unwrap();
    let s = load(&path).unwrap();
    let InfluxTarget::V2 { token, .. } = &s.influx.as_ref().unwrap().target else {
        panic!()
    };
    assert_eq!(token.expose(), "file-token");
    std::fs::write(&path, v2.replace("127.0.0.1:8086", "historian.site:8086")).unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains("plain http to a non-loopback host"), "{e}");
    std::fs::write(
        &path,
        v2.replace("127.0.0.1:8086", "historian.site:8086")
            .replace("token_file", "allow_insecure = true\ntoken_file"),
    )
    .unwrap();
    assert!(load(&path).is_ok());
}

/// `BASE` with its PLC's `address` line replaced by `link`, plus a second
/// PLC `other` on `other_link`.
fn two_on_a_line(link: &str, other_link: &str) -> String {
    let base = BASE.replace("address = \"127.0.0.1:5021\"", link);
    format!(
        "{base}\n[[plc]]\nname = \"other\"\narea = \"grinding\"\n{other_link}\n\n[[plc.tag]]\nname = \"y\"\nequipment = \"e\"\ntable = \"holding\"\naddress = 0\ntype = \"u16\"\n"
    )
}

#[test]
fn plcs_on_one_serial_device_share_its_line_and_settings() {
    let rtu =
        "transport = \"rtu\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 9600\nparity = \"N\"\nunit_id = 3";
    let (_d, path) = write(&two_on_a_line(
        rtu,
        "transport = \"rtu\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 9600\nparity = \"N\"\nunit_id = 4",
    ));
    let s = load(&path).unwrap();
    assert_eq!(s.plcs[0].address, "/dev/ttyUSB0");
    assert_eq!(s.plcs[0].line_key(), s.plcs[1].line_key());
    assert!(s.plcs[0].link.shared && s.plcs[1].link.shared);
    let LinkKind::Rtu(line) = &s.plcs[0].link.transport else {
        panic!("rtu expected: {:?}", s.plcs[0].link)
    };
    assert_eq!(line.to_string(), "9600 8N1");
    // 3.5 characters of 11 bits at 9600 baud.
    assert_eq!(line.silence(), std::time::Duration::from_micros(4010));

    // Another baud on the same device is a conflict, named on the key.
    let e = error_of(&two_on_a_line(
        rtu,
        "transport = \"rtu\"\ndevice = \"/dev/ttyUSB0\"\nbaud = 19200\nparity = \"N\"\nunit_id = 4",
    ));
    assert!(
        e.contains("plc[1].transport") && e.contains("9600 8N1"),
        "{e}"
    );
}

#[test]
fn transport_keys_are_checked() {
    let cases = [
        (
            "transport = \"rtu\"",
            "plc[0].device",
            "needs the serial device",
        ),
        (
            "transport = \"rtu\"\ndevice = \"/dev/ttyS0\"\nunit_id = 0",
            "plc[0].unit_id",
            "broadcast",
        ),
        (
            "transport = \"rtu_over_tcp\"\naddress = \"gw:4001\"\nunit_id = 0",
            "plc[0].unit_id",
            "broadcast",
        ),
        (
            "address = \"127.0.0.1:502\"\nbaud = 9600",
            "plc[0].baud",
            "only for transport = \"rtu\"",
        ),
        (
            "transport = \"rtu\"\ndevice = \"/dev/ttyS0\"\nparity = \"X\"",
            "plc[0].parity",
            "not N, E or O",
        ),
        (
            "address = \"127.0.0.1:502\"\nmax_registers = 0",
            "plc[0].max_registers",
            "outside 1–125",
        ),
        (
            "transport = \"serial\"\naddress = \"127.0.0.1:502\"",
            "transport",
            "unknown variant",
        ),
    ];
    for (link, key, reason) in cases {
        let text = BASE.replace("address = \"127.0.0.1:5021\"", link);
        let e = error_of(&text);
        assert!(e.contains(key) && e.contains(reason), "{link}: {e}");
    }
    // A tag longer than the device's request limit cannot be read at all.
    let text = BASE.replace(
        "address = \"127.0.0.1:5021\"",
        "address = \"127.0.0.1:502\"\nmax_registers = 1",
    );
    let e = error_of(&text);
    assert!(
        e.contains("plc[0].tag[0].length") && e.contains("max_registers = 1"),
        "{e}"
    );
}

#[test]
fn tcp_plcs_on_one_address_share_it_and_must_agree_on_transport() {
    let (_d, path) = write(&two_on_a_line(
        "address = \"127.0.0.1:502\"\nunit_id = 1",
        "address = \"127.0.0.1:502\"\nunit_id = 2",
    ));
    let s = load(&path).unwrap();
    assert!(s.plcs.iter().all(|p| p.link.shared));
    let (_d, path) = write(BASE);
    assert!(!load(&path).unwrap().plcs[0].link.shared);
    let e = error_of(&two_on_a_line(
        "address = \"127.0.0.1:502\"",
        "transport = \"rtu_over_tcp\"\naddress = \"127.0.0.1:502\"",
    ));
    assert!(e.contains("plc[1].transport"), "{e}");
}

#[test]
fn a_tag_scan_class_is_a_multiple_of_the_plc_scan() {
    let (_d, path) = write(&with_tag(
        "table = \"holding\"\naddress = 40\ntype = \"u16\"\nscan_ms = 5000",
    ));
    let s = load(&path).unwrap();
    assert_eq!(s.plcs[0].tags[1].scan_every, 5);
    assert_eq!(s.plcs[0].tags[0].scan_every, 1);
    let e = error_of(&with_tag(
        "table = \"holding\"\naddress = 40\ntype = \"u16\"\nscan_ms = 1500",
    ));
    assert!(
        e.contains("plc[0].tag[1].scan_ms") && e.contains("not a whole multiple"),
        "{e}"
    );
}

/// `BASE` without its `[influxdb]` section.
fn without_influxdb() -> String {
    BASE.replace(
        "[influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\ndatabase = \"plant\"\n",
        "",
    )
}

#[test]
fn a_gateway_needs_at_least_one_sink() {
    let text = without_influxdb();
    assert!(!text.contains("[influxdb]"));
    let e = error_of(&text);
    assert!(
        e.contains("plant.toml: influxdb: at least one sink is required: [influxdb] or [nats]"),
        "{e}"
    );
    // Every other mistake is still reported with it.
    let e = error_of(&text.replace("type = \"f32\"", "type = \"f32\"\nbit = 3"));
    assert!(
        e.contains("2 errors") && e.contains("plc[0].tag[0].bit"),
        "{e}"
    );
}

#[test]
fn nats_alone_is_a_sink_and_batches_take_the_defaults() {
    let text = without_influxdb()
        + "\n[nats]\nservers = [\"nats://127.0.0.1:4222\"]\ngateway_id = \"gw1\"\ntoken = \"t0k-nats\"\n";
    let (_d, path) = write(&text);
    let s = load(&path).unwrap();
    assert!(s.influx.is_none());
    assert_eq!(
        s.nats.as_ref().map(|n| n.subject.as_str()),
        Some("plant.caylloma.gw1")
    );
    assert_eq!(
        s.batching(),
        Batching {
            batch_size: 5000,
            flush_interval: std::time::Duration::from_secs(1)
        }
    );
    let json = serde_json::to_string(&crate::check::report(&s)).unwrap();
    assert!(json.contains(r#""influxdb":null"#), "{json}");
    assert!(!json.contains("t0k-nats"), "token leaked: {json}");
    let text = crate::check::report(&s).to_text();
    assert!(
        text.contains("no [influxdb]: records go to [nats] only"),
        "{text}"
    );
    assert!(
        text.contains("nats nats://127.0.0.1:4222 stream PLANT (replicas 3) subject plant.caylloma.gw1 gateway_id gw1 (token set)"),
        "{text}"
    );
    assert!(!text.contains("t0k-nats"), "token leaked: {text}");
}

#[test]
fn an_influxdb_override_without_the_section_names_the_variable() {
    let text = without_influxdb()
        + "\n[nats]\nservers = [\"nats://127.0.0.1:4222\"]\ngateway_id = \"gw1\"\n";
    let (_d, path) = write(&text);
    let env = vec![(
        "PLANTGW_INFLUXDB__TOKEN".to_string(),
        "s3cret-token".to_string(),
    )];
    let e = load_raw_with_env(&path, env).unwrap_err().to_string();
    assert!(
        e.contains(
            "environment override PLANTGW_INFLUXDB__TOKEN (influxdb): sets a key of [influxdb]"
        ),
        "{e}"
    );
    assert!(!e.contains("s3cret-token"), "{e}");
    // Other overrides still apply to a NATS-only file.
    let env = vec![("PLANTGW_NATS__TOKEN".to_string(), "nats-t0k".to_string())];
    let raw = load_raw_with_env(&path, env).unwrap();
    assert!(raw.influxdb.is_none());
    let token = raw.nats.as_ref().and_then(|n| n.token.as_ref());
    assert_eq!(token.map(Secret::expose), Some("nats-t0k"));
}

#[test]
fn existing_files_keep_their_influxdb_sink_and_batches() {
    let (_d, path) = write(&BASE.replace(
        "database = \"plant\"",
        "database = \"plant\"\nbatch_size = 250\nflush_interval_ms = 300",
    ));
    let s = load(&path).unwrap();
    let influx = s.influx.as_ref().expect("[influxdb] kept");
    assert_eq!(influx.url, "http://127.0.0.1:8086");
    assert!(s.nats.is_none());
    assert_eq!(
        s.batching(),
        Batching {
            batch_size: 250,
            flush_interval: std::time::Duration::from_millis(300)
        }
    );
    // And with the section's defaults, the same bounds as without it.
    let (_d, path) = write(BASE);
    let s = load(&path).unwrap();
    assert_eq!(
        (
            s.batching().batch_size,
            s.batching().flush_interval.as_millis()
        ),
        (5000, 1000)
    );
    let json = serde_json::to_string(&crate::check::report(&s)).unwrap();
    assert!(
        json.contains(r#""influxdb":{"url":"http://127.0.0.1:8086","api":"v1""#),
        "{json}"
    );
}

#[test]
fn identical_machines_share_their_names_and_rare_fields_stay_out_of_line() {
    let second = BASE
        .split("[[plc]]")
        .nth(1)
        .unwrap()
        .replace("name = \"grinding\"", "name = \"grinding2\"")
        .replace("5021", "5022");
    let text = format!(
        "{}\nmin = 0.0\nmax = 500.0\ndeadband = 0.5\n[[plc]]{second}",
        BASE.trim_end()
    );
    let (_d, path) = write(&text);
    let s = load(&path).unwrap();
    let (a, b) = (&s.plcs[0].tags[0], &s.plcs[1].tags[0]);
    assert!(Arc::ptr_eq(&a.id.name, &b.id.name), "one copy of the name");
    assert!(Arc::ptr_eq(&a.id.equipment, &b.id.equipment));
    assert_eq!((&**b.id.plc(), &**b.id.area()), ("grinding2", "grinding"));
    let x = a.extras.as_deref().unwrap();
    assert_eq!(
        (x.min, x.max, x.deadband),
        (Some(0.0), Some(500.0), Some(0.5))
    );
    assert_eq!(x.max_interval, Some(std::time::Duration::from_secs(60)));
    assert!(b.extras.is_none(), "a plain tag carries no extras");
    // 100 000 of these live for the whole run and are read every scan.
    assert!(
        std::mem::size_of::<Tag>() <= 48,
        "Tag is {} bytes",
        std::mem::size_of::<Tag>()
    );
    // Each tag owns one of these (plus the Arc's 16-byte header).
    assert_eq!(std::mem::size_of::<TagId>(), 40);
}

#[test]
fn tag_ids_share_their_plc_names_and_compare_and_hash_by_value() {
    use std::hash::BuildHasher;
    let (_d, path) = write(&with_tag(
        "table = \"holding\"\naddress = 10\ntype = \"u16\"",
    ));
    let s = load(&path).unwrap();
    let tags = &s.plcs[0].tags;
    assert_eq!(tags.len(), 2);
    assert!(
        Arc::ptr_eq(&tags[0].id.owner, &tags[1].id.owner),
        "one copy of the PLC's names for all its tags"
    );
    let id = &*tags[0].id;
    let apart = TagId::new(
        id.plc().to_string(),
        id.area().to_string(),
        id.equipment.to_string(),
        id.name.to_string(),
    );
    assert!(!Arc::ptr_eq(&apart.owner, &id.owner));
    assert_eq!(&apart, id);
    let h = std::collections::hash_map::RandomState::new();
    assert_eq!(h.hash_one(&apart), h.hash_one(id));
    let other_area = TagId::new(
        id.plc().clone(),
        "elsewhere",
        id.equipment.clone(),
        id.name.clone(),
    );
    assert_ne!(&other_area, id);
}

/// A plant whose sections come before and after its PLCs: two on one
/// serial device, one with a tag that has extras.
const PLANT: &str = r#"
[influxdb]
url = "http://127.0.0.1:8086"
api = "v1"
database = "plant"

[[plc]]
name = "mill"
area = "grinding"
transport = "rtu"
device = "/dev/ttyUSB0"
baud = 9600
unit_id = 1

[[plc.tag]]
name = "power_kw"
equipment = "mill"
table = "input"
address = 0
type = "f32"
min = 0.0
max = 5000.0
deadband = 2.5

[[plc.tag]]
name = "running"
equipment = "mill"
table = "coil"
address = 0
type = "bool"

[[plc]]
name = "pump"
area = "grinding"
transport = "rtu"
device = "/dev/ttyUSB0"
baud = 9600
unit_id = 2

[[plc.tag]]
name = "flow_m3h"
equipment = "pump"
table = "holding"
address = 10
type = "u16"
scale = 0.1

[site]
name = "caylloma"
timezone = "America/Lima"

[[plc]]
name = "crusher"
area = "crushing"
address = "127.0.0.1:5020"

[[plc.tag]]
name = "feed_tph"
equipment = "belt"
table = "holding"
address = 0
type = "f32"

[spool]
dir = "spool"
"#;

/// What the batch path gives for `text`: the whole file parsed at once,
/// then validated.
fn batch(text: &str, base: &std::path::Path) -> Result<Settings, Vec<Issue>> {
    validate(&toml::from_str::<RawConfig>(text).unwrap(), base)
}

/// The issues `load` reports for the file at `path`.
fn issues_of(path: &std::path::Path) -> Vec<Issue> {
    match load(path) {
        Err(ConfigError::Invalid { issues, .. }) => issues,
        other => panic!("validation issues expected: {other:?}"),
    }
}

#[test]
fn plcs_validated_as_read_give_what_the_whole_file_gives() {
    let (_d, path) = write(PLANT);
    let base = path.parent().unwrap();
    let streamed = load(&path).unwrap();
    assert_eq!(streamed.plcs.len(), 3);
    assert!(streamed.plcs[0].link.shared && !streamed.plcs[2].link.shared);
    assert!(streamed.plcs[0].tags[0].extras.is_some());
    assert_eq!(
        format!("{streamed:?}"),
        format!("{:?}", batch(PLANT, base).unwrap())
    );
    let raw = load_raw_with_env(&path, []).unwrap();
    assert_eq!(
        format!("{streamed:?}"),
        format!("{:?}", validate(&raw, base).unwrap())
    );

    // Issues of PLCs, of sections after them and of lines shared across
    // PLCs, in the batch path's order: a section's before any PLC's.
    let bad = PLANT
        .replace("America/Lima", "Mars/Base")
        .replace("name = \"crusher\"", "name = \"mill\"")
        .replace("unit_id = 2", "unit_id = 2\nparity = \"N\"")
        .replace(
            "type = \"f32\"\n\n[spool]",
            "type = \"f32\"\nbit = 3\n\n[spool]",
        );
    let (_d, path) = write(&bad);
    let streamed = issues_of(&path);
    let keys: Vec<&str> = streamed.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "site.timezone",
            "plc[2].name",
            "plc[2].tag[0].bit",
            "plc[1].transport"
        ],
        "{streamed:?}"
    );
    assert_eq!(streamed, batch(&bad, base).unwrap_err());
}

#[test]
fn a_file_that_cannot_be_cut_is_parsed_whole() {
    // A line in a multi-line string that looks like a header cuts the pump
    // in two, after the mill was already validated.
    let text = PLANT.replace(
        "scale = 0.1",
        "scale = 0.1\ndescription = \"\"\"\n[[plc]]\nnot a header\n\"\"\"",
    );
    let (_d, path) = write(&text);
    let base = path.parent().unwrap();
    let s = load(&path).unwrap();
    assert_eq!(
        format!("{s:?}"),
        format!("{:?}", batch(&text, base).unwrap())
    );
    // An error after the cut is given at its line in the file.
    let bad = text.replace(
        "type = \"f32\"\n\n[spool]",
        "type = \"f32\"\nsclae = 2.0\n\n[spool]",
    );
    let line = bad.lines().position(|l| l == "sclae = 2.0").unwrap() + 1;
    let e = error_of(&bad);
    assert!(
        e.contains(&format!(
            "plant.toml:{line}:1: plc[2].tag[0].sclae: unknown key (did you mean `scale`?)"
        )),
        "{e}"
    );
    // Validation issues of the whole file, none of the PLCs read before.
    let bad = text.replace("unit_id = 1", "unit_id = 0");
    let (_d, path) = write(&bad);
    let issues = issues_of(&path);
    assert_eq!(issues, batch(&bad, base).unwrap_err());
    assert_eq!(issues.len(), 1, "{issues:?}");
}
