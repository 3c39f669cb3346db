//! `plantgw tags import|export` as users run them: a spreadsheet export in,
//! configuration out, every bad row reported, and the shipped configuration
//! surviving export → import → export unchanged.
use std::process::{Command, Output};

use crate::common::repo_path;

fn plantgw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plantgw"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Pastes each `# plc = "name"` group of an import under a `[[plc]]` table
/// holding that PLC's settings from `base` (the shipped config's header and
/// PLC tables, without their tags).
fn assemble(base: &str, imported: &str) -> String {
    let cut = base.find("\n[[plc]]\n").unwrap();
    let mut out = base[..cut + 1].to_string();
    let headers: Vec<&str> = base[cut + 1..]
        .split("[[plc]]\n")
        .filter(|s| !s.is_empty())
        .map(|s| s.split("\n[[plc.tag]]").next().unwrap())
        .collect();
    for group in imported.split("\n# plc = ").skip(1) {
        let (name, tags) = group.split_once('\n').unwrap();
        let name = name.split_whitespace().next().unwrap();
        let header = headers
            .iter()
            .find(|h| h.contains(&format!("name = {name}\n")))
            .unwrap_or_else(|| panic!("no [[plc]] {name} in the base config"));
        out.push_str(&format!("[[plc]]\n{}\n{tags}", header.trim_end()));
    }
    out
}

#[test]
fn shipped_config_survives_export_import_export() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = repo_path("config/caylloma.toml");
    let out = plantgw(&["tags", "export", "--config", shipped.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let shipped_raw = plantgw::config::load_raw(&shipped).unwrap();
    let n: usize = shipped_raw.plc.iter().map(|p| p.tag.len()).sum();
    assert_eq!(csv.lines().count(), n + 1, "a header and one row per tag");
    assert!(csv
        .starts_with("plc,equipment,name,table,address,type,order,scale,offset,unit,description,"));

    let io = dir.path().join("io.csv");
    std::fs::write(&io, &csv).unwrap();
    let toml_out = dir.path().join("tags.toml");
    let out = plantgw(&[
        "tags",
        "import",
        "--csv",
        io.to_str().unwrap(),
        "--out",
        toml_out.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains(&format!("{n} tags written to")),
        "{}",
        text(&out.stderr)
    );
    let imported = std::fs::read_to_string(&toml_out).unwrap();

    // Pasted under the shipped PLC tables, the import is the shipped config.
    let config = dir.path().join("reassembled.toml");
    std::fs::write(
        &config,
        assemble(&std::fs::read_to_string(&shipped).unwrap(), &imported),
    )
    .unwrap();
    let again = plantgw::config::load_raw(&config).unwrap();
    plantgw::config::load(&config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.plc.len(), shipped_raw.plc.len());
    for (a, b) in again.plc.iter().zip(&shipped_raw.plc) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.tag.len(), b.tag.len(), "plc {}", a.name);
        for (x, y) in a.tag.iter().zip(&b.tag) {
            assert_eq!(
                toml::to_string(x).unwrap(),
                toml::to_string(y).unwrap(),
                "{}.{}",
                y.equipment,
                y.name
            );
        }
    }
    let out = plantgw(&["tags", "export", "-c", config.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), csv, "export(import(csv)) != csv");
}

#[test]
fn a_spanish_locale_spreadsheet_export_imports() {
    let fixture = repo_path("tests/ops/fixtures/io-list-es.csv");
    let out = plantgw(&["tags", "import", "--csv", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let toml_text = text(&out.stdout);
    assert!(
        toml_text.contains("# plc = \"crushing\" (3 tags)"),
        "{toml_text}"
    );
    assert!(
        toml_text.contains("# plc = \"grinding\" (4 tags)"),
        "{toml_text}"
    );
    assert!(
        toml_text.contains("# plc = \"flotation\" (1 tag)"),
        "{toml_text}"
    );
    // Decimal commas and quoted `;` and quotes came through.
    assert!(toml_text.contains("scale = 0.01\n"), "{toml_text}");
    assert!(toml_text.contains("max = 4294967.295\n"), "{toml_text}");
    assert!(
        toml_text.contains("Potencia del motor; chancadora"),
        "{toml_text}"
    );
    assert!(
        toml_text.contains("radar \\\"VEGA\\\"") || toml_text.contains("radar \"VEGA\""),
        "{toml_text}"
    );
    // Pasted under the shipped PLC tables (without [kpi], whose tags this
    // short list lacks), it is a valid configuration.
    let shipped = std::fs::read_to_string(repo_path("config/caylloma.toml")).unwrap();
    let (kpi, plcs) = (
        shipped.find("\n[kpi]\n").unwrap(),
        shipped.find("\n[[plc]]\n").unwrap(),
    );
    let base = format!("{}{}", &shipped[..kpi], &shipped[plcs..]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("plant.toml");
    std::fs::write(&config, assemble(&base, &toml_text)).unwrap();
    let settings = plantgw::config::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let temp = settings.plcs[1]
        .tags
        .iter()
        .find(|t| &*t.id.name == "bearing_de_temp_c")
        .unwrap();
    assert_eq!(
        (temp.scale, temp.min(), temp.max()),
        (0.1, Some(-20.0), Some(120.0))
    );
}

#[test]
fn bad_rows_are_all_reported_with_their_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let io = dir.path().join("io.csv");
    std::fs::write(
        &io,
        "plc,equipment,name,table,address,type,order,scale,offset,unit,description,bit\n\
         grinding,ball_mill,power_kw,input,0,u16,,0.1,,kW,ok,\n\
         grinding,ball_mill,current_a,input,1,f33,,0.1,,A,,\n\
         grinding,ball_mill,status,input,40,bool,,,,,,16\n\
         grinding,ball_mill,power_kw,input,2,u16,,,,,,\n",
    )
    .unwrap();
    let out_file = dir.path().join("tags.toml");
    let out = plantgw(&[
        "tags",
        "import",
        "--csv",
        io.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(!out_file.exists(), "nothing is written on error");
    let stderr = text(&out.stderr);
    let f = io.display();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{f}:3: column type: \"f33\" is not one of bool, u16, i16, u32, i32, u64, i64, f32, f64, string").as_str(),
            format!("{f}:4: column bit: bit 16 is out of range 0–15 (tag ball_mill.status)").as_str(),
            format!("{f}:5: column name: ball_mill.power_kw is already defined at line 2").as_str(),
            format!("error: {f}: 3 problems in the I/O list; nothing written").as_str(),
        ],
        "{stderr}"
    );

    let missing = plantgw(&["tags", "import", "--csv", "/nonexistent/io.csv"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).starts_with("error: /nonexistent/io.csv: cannot read:"));
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[site]\nname = \"x\"\nbogus = 1\n").unwrap();
    let out = plantgw(&["tags", "export", "--config", bad_config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bogus"), "{}", text(&out.stderr));
}
