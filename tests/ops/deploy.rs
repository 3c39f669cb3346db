//! deploy/: the systemd unit, the production configuration template and the
//! install guide agree with each other and with the gateway.
use std::collections::BTreeMap;
use std::process::Command;

use crate::common::repo_path;

/// `[Section]` → key → values in order (a key may repeat, e.g. SystemCallFilter).
fn unit_keys(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line:?}"));
        assert!(!section.is_empty(), "{line:?} outside a section");
        out.entry(section.clone())
            .or_default()
            .entry(k.trim().to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    out
}

/// The keys the unit must have, read as text before systemd verifies it.
fn check_unit_text(text: &str) {
    let keys = unit_keys(text);
    let get = |section: &str, key: &str| -> Vec<String> {
        keys.get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let one = |section: &str, key: &str, want: &str| {
        assert_eq!(get(section, key), [want], "[{section}] {key}");
    };
    one("Service", "User", "plantgw");
    one("Service", "Group", "plantgw");
    one(
        "Service",
        "ExecStart",
        "/usr/local/bin/plantgw run --config /etc/plantgw/plantgw.toml",
    );
    one("Service", "Restart", "on-failure");
    one("Service", "RestartPreventExitStatus", "2");
    one("Service", "KillSignal", "SIGTERM");
    one("Service", "EnvironmentFile", "-/etc/plantgw/env");
    one("Service", "NoNewPrivileges", "yes");
    one("Service", "ProtectSystem", "strict");
    one("Service", "ReadWritePaths", "/var/lib/plantgw");
    one("Service", "StateDirectory", "plantgw");
    one("Service", "PrivateTmp", "yes");
    one("Service", "ProtectHome", "yes");
    for k in [
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "PrivateDevices",
        "RestrictNamespaces",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ] {
        one("Service", k, "yes");
    }
    one(
        "Service",
        "RestrictAddressFamilies",
        "AF_INET AF_INET6 AF_UNIX",
    );
    one("Service", "CapabilityBoundingSet", "");
    assert!(
        get("Service", "SystemCallFilter").contains(&"@system-service".to_string()),
        "SystemCallFilter=@system-service"
    );
    // The stop timeout must outlast the sender's drain grace after SIGTERM.
    let stop = get("Service", "TimeoutStopSec");
    let secs: u64 = stop[0].trim_end_matches('s').parse().unwrap();
    let grace = plantgw::app::RunOptions::default().drain_grace.as_secs();
    assert!(
        secs >= grace * 3,
        "TimeoutStopSec={secs}s is not well above the {grace} s drain"
    );
    one("Install", "WantedBy", "multi-user.target");
}

/// The serial drop-in: host /dev limited to the serial ports, and the
/// group that owns them.
fn check_serial_drop_in_text(text: &str) {
    let keys = unit_keys(text);
    let service = keys.get("Service").cloned().unwrap_or_default();
    let get = |key: &str| service.get(key).cloned().unwrap_or_default();
    assert_eq!(get("PrivateDevices"), ["no"], "serial.conf PrivateDevices");
    assert_eq!(
        get("DeviceAllow"),
        ["char-ttyUSB rw", "char-ttyS rw"],
        "serial.conf DeviceAllow"
    );
    assert_eq!(
        get("SupplementaryGroups"),
        ["dialout"],
        "serial.conf SupplementaryGroups"
    );
    assert_eq!(keys.len(), 1, "serial.conf has only [Service]");
}

/// `systemd-analyze security --offline=yes` of `unit` (with any drop-ins
/// beside it): the report and the overall exposure (0 best, 10 worst).
fn security(unit: &std::path::Path) -> (String, f64) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(unit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let score: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for plantgw.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "systemd-analyze security --offline=yes gave no score ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (stdout, score)
}

fn verify(unit: &std::path::Path) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// The report line of one setting, e.g. "✗ DeviceAllow= … char-ttyS:rw".
fn line_of<'a>(report: &'a str, setting: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(setting))
        .unwrap_or_else(|| panic!("no {setting} in the security report:\n{report}"))
}

#[test]
fn systemd_unit_and_serial_drop_in_are_verified_by_systemd_analyze() {
    let text = std::fs::read_to_string(repo_path("deploy/plantgw.service")).unwrap();
    check_unit_text(&text);
    let serial =
        std::fs::read_to_string(repo_path("deploy/plantgw.service.d/serial.conf")).unwrap();
    check_serial_drop_in_text(&serial);
    crate::common::require_binary("systemd-analyze", "apt-get install systemd");
    let version = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .unwrap();
    eprintln!(
        "verifying with {}",
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("systemd-analyze")
    );
    // verify also checks that ExecStart's binary exists: point it at the
    // binary this test suite built; everything else is the unit as shipped.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("plantgw.service");
    let exe = env!("CARGO_BIN_EXE_plantgw");
    std::fs::write(&unit, text.replace("/usr/local/bin/plantgw", exe)).unwrap();
    verify(&unit);
    let (report, score) = security(&unit);
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{report}");
    assert!(
        line_of(&report, "PrivateDevices=").contains("no access to hardware devices"),
        "{report}"
    );

    // With the drop-in where systemd looks for it (plantgw.service.d/ in
    // the unit's directory): still valid, and in effect.
    let d = dir.path().join("plantgw.service.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("serial.conf"), &serial).unwrap();
    verify(&unit);
    let (report, score) = security(&unit);
    eprintln!("with serial.conf: exposure {score}");
    let allow = line_of(&report, "DeviceAllow=");
    assert!(
        allow.contains("char-ttyUSB:rw") && allow.contains("char-ttyS:rw"),
        "serial.conf not in effect: {allow}"
    );
    assert!(
        line_of(&report, "PrivateDevices=").contains("potentially has access"),
        "{report}"
    );
    assert!(
        line_of(&report, "SupplementaryGroups=").contains("runs with supplementary groups"),
        "{report}"
    );
    assert!(
        score <= 2.0,
        "exposure with serial.conf {score} > 2.0:\n{report}"
    );
}

#[test]
fn production_config_template_is_valid_and_matches_the_caylloma_map() {
    let text = std::fs::read_to_string(repo_path("deploy/plantgw.toml.example")).unwrap();
    for needle in [
        "dir = \"/var/lib/plantgw/spool\"",
        "token_file = \"/etc/plantgw/influxdb.token\"",
        "api = \"v2\"",
    ] {
        assert!(text.contains(needle), "template lacks {needle}");
    }
    // As installed, with the two host paths moved into a scratch directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("influxdb.token"), "t0ken\n").unwrap();
    let local = text
        .replace(
            "/var/lib/plantgw/spool",
            &dir.path().join("spool").display().to_string(),
        )
        .replace(
            "/etc/plantgw/influxdb.token",
            &dir.path().join("influxdb.token").display().to_string(),
        );
    let path = dir.path().join("plantgw.toml");
    std::fs::write(&path, local).unwrap();
    let settings = plantgw::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(settings.kpi.is_some());
    assert_eq!(settings.plcs.len(), 3);

    // Every tag and the [kpi] section are those of config/caylloma.toml.
    let example = plantgw::config::load_raw(&path).unwrap();
    let shipped = plantgw::config::load_raw(&repo_path("config/caylloma.toml")).unwrap();
    assert_eq!(
        as_toml(example.kpi.as_ref().unwrap()),
        as_toml(shipped.kpi.as_ref().unwrap()),
        "[kpi] differs from config/caylloma.toml"
    );
    for plc in &example.plc {
        let same = shipped.plc.iter().find(|p| p.name == plc.name).unwrap();
        for tag in &plc.tag {
            let theirs = same
                .tag
                .iter()
                .find(|t| t.equipment == tag.equipment && t.name == tag.name)
                .unwrap_or_else(|| {
                    panic!(
                        "{}.{} is not in config/caylloma.toml",
                        tag.equipment, tag.name
                    )
                });
            assert_eq!(
                as_toml(tag),
                as_toml(theirs),
                "{}.{} differs from config/caylloma.toml",
                tag.equipment,
                tag.name
            );
        }
    }
}

/// Raw configuration parts as TOML text, to compare them.
fn as_toml<T: serde::Serialize>(v: &T) -> String {
    toml::to_string(v).unwrap()
}

#[test]
fn install_guide_covers_binary_config_spool_service_and_grafana() {
    let text = std::fs::read_to_string(repo_path("deploy/README-install.md")).unwrap();
    for needle in [
        "cargo install --path .",
        "/usr/local/bin/plantgw",
        "/etc/plantgw/plantgw.toml",
        "deploy/plantgw.toml.example",
        "/var/lib/plantgw/spool",
        "PLANTGW_INFLUXDB__TOKEN",
        "deploy/plantgw.service /etc/systemd/system/plantgw.service",
        "systemctl enable --now plantgw",
        "/etc/grafana/provisioning/",
        "plantgw tags import --csv",
        "plantgw check --config /etc/plantgw/plantgw.toml",
        "deploy/plantgw.service.d/serial.conf /etc/systemd/system/plantgw.service.d/serial.conf",
        "transport = \"rtu\"",
    ] {
        assert!(
            text.contains(needle),
            "deploy/README-install.md lacks {needle:?}"
        );
    }
}
