use super::*;
use crate::config::{DataType, RawConfig, Table};

const HEADER: &str = "plc,equipment,name,table,address,type,order,scale,offset,unit,description";

fn import(text: &str) -> Result<Vec<PlcTags>, TagsError> {
    import_csv(text, "io.csv")
}

fn errors(text: &str) -> Vec<String> {
    match import(text) {
        Err(e @ TagsError::Rows { .. }) => e.to_string().lines().map(str::to_string).collect(),
        Err(e) => vec![e.to_string()],
        Ok(p) => panic!("expected errors, imported {p:?}"),
    }
}

#[test]
fn rows_become_tags_grouped_by_plc_in_list_order() {
    let text = format!(
        "{HEADER},bit,min,max\r\n\
         grinding,mill_feed_belt,feed_rate_tph,holding,0,f32,CDAB,,,t/h,\"Mill feed rate, wet\",,0,60\r\n\
         crushing,jaw_crusher,running,discrete,0,bool,,,,,\"Jaw \"\"JC-01\"\" running\",,,\r\n\
         grinding,ball_mill,power_kw,input,0,u16,,0.1,,kW,Ball mill power,,,\r\n\
         grinding,ball_mill,lube_ok,input,40,bool,,,,,,1,,\r\n"
    );
    let plcs = import(&text).unwrap();
    assert_eq!(
        plcs.iter().map(|p| p.plc.as_str()).collect::<Vec<_>>(),
        ["grinding", "crushing"]
    );
    assert_eq!(plcs[0].lines, [2, 4, 5]);
    let rate = &plcs[0].tags[0];
    assert_eq!(rate.order, Some(ByteOrder::CDAB));
    assert_eq!(rate.description.as_deref(), Some("Mill feed rate, wet"));
    assert_eq!((rate.min, rate.max), (Some(0.0), Some(60.0)));
    assert_eq!((rate.scale, rate.offset), (1.0, 0.0));
    assert_eq!(plcs[0].tags[1].scale, 0.1);
    assert_eq!(plcs[0].tags[2].bit, Some(1));
    assert_eq!(
        plcs[1].tags[0].description.as_deref(),
        Some("Jaw \"JC-01\" running")
    );
    assert_eq!(plcs[1].tags[0].table, Table::Discrete);
}

#[test]
fn header_is_case_and_order_insensitive_and_optional_columns_may_be_absent() {
    let text =
        "Type, Name ,PLC,Equipment,Table,Address\nU16,level_mm,flotation,pb_rougher,Input,100\n";
    let plcs = import(text).unwrap();
    let t = &plcs[0].tags[0];
    assert_eq!(t.data_type, DataType::U16);
    assert_eq!(t.table, Table::Input);
    assert_eq!(t.address, 100);
    assert!(t.unit.is_none() && t.order.is_none());
}

#[test]
fn semicolon_lists_with_decimal_commas_are_read() {
    let text = "plc;equipment;name;table;address;type;scale;unit;description\n\
                crushing;fine_ore_bin;level_pct;input;4;u16;0,01;%;\"Bin level; radar\"\n";
    let t = &import(text).unwrap()[0].tags[0];
    assert_eq!(t.scale, 0.01);
    assert_eq!(t.description.as_deref(), Some("Bin level; radar"));
}

#[test]
fn cell_errors_name_file_line_and_column_and_all_are_reported() {
    let text = format!(
        "{HEADER}\n\
         grinding,ball_mill,power_kw,input,0,u16,,0.1,,kW,ok\n\
         grinding,ball_mill,bad_type,input,1,f33,,,,,\n\
         grinding,ball_mill,bad_addr,input,70000,u16,,,,,\n\
         grinding,ball_mill,bad_scale,input,2,u16,,x1,,,\n\
         grinding,,no_equipment,holdng,3,u16,WXYZ,,,,\n"
    );
    let e = errors(&text);
    assert_eq!(
        e,
        [
            "io.csv:3: column type: \"f33\" is not one of bool, u16, i16, u32, i32, u64, i64, f32, f64, string",
            "io.csv:4: column address: \"70000\" is not a whole number in 0–65535 (0-based protocol address)",
            "io.csv:5: column scale: \"x1\" is not a finite number",
            "io.csv:6: column equipment: must not be empty",
            "io.csv:6: column table: \"holdng\" is not one of coil, discrete, input, holding",
            "io.csv:6: column order: \"WXYZ\" is not one of ABCD, CDAB, BADC, DCBA",
        ]
    );
}

#[test]
fn the_gateways_validation_runs_on_every_row_with_its_line() {
    let text = format!(
        "{HEADER},bit,min,max\n\
         grinding,ball_mill,status_a,input,40,bool,,,,,,16,,\n\
         grinding,ball_mill,power_kw,input,0,f32,,,,,,,,\n\
         grinding,ball_mill,current_a,input,1,u16,,,,,,,,\n\
         grinding,ball_mill,power_kw,input,10,u16,,,,,,,,\n\
         grinding,ball_mill,temp,input,11,i16,,,,,,,80,20\n\
         crushing,jaw_crusher,name,holding,0,string,,,,,,,,\n\
         crushing,jaw_crusher,coil,coil,0,u16,,,,,,,,\n"
    );
    let e = errors(&text);
    let has = |line: &str, needle: &str| {
        assert!(
            e.iter().any(|l| l.starts_with(line) && l.contains(needle)),
            "no {line} … {needle} in {e:#?}"
        )
    };
    has("io.csv:2: column bit:", "bit 16 is out of range 0–15");
    // current_a at input 1 overlaps the f32 power_kw at input 0..1.
    has(
        "io.csv:4: column address:",
        "overlaps ball_mill.power_kw (line 3, 0..1)",
    );
    has(
        "io.csv:5: column name:",
        "ball_mill.power_kw is already defined at line 3",
    );
    has("io.csv:6: column max:", "must be greater than min");
    has("io.csv:7: column length:", "a string needs length");
    has("io.csv:8: column type:", "holds bits");
    // Sorted by line.
    let lines: Vec<usize> = e
        .iter()
        .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{e:#?}");
}

#[test]
fn header_problems_stop_before_the_rows() {
    let e = errors("plc,equipment,name,table,adress,type,dedband\nx,y,z,coil,0,bool,1\n");
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("io.csv:1: column adress: unknown column (known: plc, equipment"));
    assert!(e[1].starts_with("io.csv:1: column dedband: unknown column"));
    assert_eq!(
        e[2],
        "io.csv:1: column address: required column is missing from the header"
    );
    let e = errors("plc,equipment,name,table,address,type,type\n");
    assert!(e[0].contains("column type: appears twice"), "{e:#?}");
}

#[test]
fn empty_lists_blank_rows_and_ragged_rows() {
    assert!(errors("")[0].contains("the file is empty"));
    assert!(errors(&format!("{HEADER}\n"))[0].contains("no tag rows"));
    assert!(errors(&format!("{HEADER}\n,,,,,,,,,,\n\n"))[0].contains("no tag rows"));
    // Trailing empty cells may be missing; extra cells may not.
    let short = format!("{HEADER}\ncrushing,jaw_crusher,running,discrete,0,bool\n");
    assert_eq!(import(&short).unwrap()[0].tags.len(), 1);
    let long = format!("{HEADER}\ncrushing,jaw_crusher,running,discrete,0,bool,,,,,,extra\n");
    assert_eq!(
        errors(&long),
        ["io.csv:2: 12 cells, but the header has 11 columns"]
    );
    let e = import(&format!("{HEADER}\n\"unclosed,x\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "io.csv:2: a quoted field is never closed (missing \")"
    );
}

#[test]
fn rendered_toml_is_valid_configuration_under_each_plcs_table() {
    let text = format!(
        "{HEADER},bit,length,min,max,deadband,max_interval_ms\n\
         grinding,ball_mill,power_kw,input,0,u16,,0.1,-5,kW,\"Power, \"\"motor\"\"\",,,0,1000,2.5,30000\n\
         grinding,ball_mill,lube_ok,input,40,bool,,,,,,1,,,,,\n\
         flotation,analyser,model,holding,100,string,,,,,\"two\r\nlines\",,8,,,,\n"
    );
    let plcs = import(&text).unwrap();
    let out = render_toml(&plcs, "io.csv").unwrap();
    assert!(out.contains("# plc = \"grinding\" (2 tags)\n"), "{out}");
    assert!(out.contains("# plc = \"flotation\" (1 tag)\n"), "{out}");
    assert!(
        !out.contains("scale = 1.0") && !out.contains("offset = 0.0"),
        "{out}"
    );
    assert!(out.contains("scale = 0.1\noffset = -5.0\n"), "{out}");
    // Paste each group under its PLC's table, as the header comment says.
    let mut config = String::from(
        "[site]\nname = \"s\"\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\ndatabase = \"d\"\n",
    );
    for (i, group) in out.split("\n# plc = ").skip(1).enumerate() {
        let (name, tags) = group.split_once('\n').unwrap();
        let name = name.split_whitespace().next().unwrap();
        config.push_str(&format!(
            "[[plc]]\nname = {name}\narea = \"a\"\naddress = \"127.0.0.1:{}\"\n{tags}",
            5020 + i
        ));
    }
    let raw: RawConfig = toml::from_str(&config).unwrap();
    let settings = config::validate(&raw, Path::new(".")).unwrap();
    assert_eq!(settings.plcs.len(), 2);
    let power = &settings.plcs[0].tags[0];
    assert_eq!((power.scale, power.offset), (0.1, -5.0));
    assert_eq!(power.deadband(), Some(2.5));
    assert_eq!(raw.plc[1].tag[0].description.as_deref(), Some("two\nlines"));
    assert_eq!(
        raw.plc[0].tag[0].description.as_deref(),
        Some("Power, \"motor\"")
    );
}

#[test]
fn export_of_an_import_is_the_list_normalised() {
    let text = "\u{feff}Plc;Equipment;Name;Table;Address;Type;Order;Scale;Offset;Unit;Description;Bit;Length;Min;Max;Deadband\r\n\
                grinding;ball_mill;power_kw;INPUT;0;U16;;0,10;;kW;Power, kW;;;0;1000,0;\r\n\
                grinding;mill_feed_belt;total_t;holding;2;u32;abcd;0.001;;t;\"Totaliser \"\"BW500\"\"\";;;;;\r\n\
                crushing;crushing_plc;firmware;holding;100;string;;;;;;;8;;;\r\n";
    let plcs = import_csv(text, "io.csv").unwrap();
    let csv = export_csv(plcs.iter().map(|p| (p.plc.as_str(), p.tags.as_slice())));
    assert_eq!(
        csv,
        "plc,equipment,name,table,address,type,order,scale,offset,unit,description,bit,length,min,max,deadband,max_interval_ms\r\n\
         grinding,ball_mill,power_kw,input,0,u16,,0.1,0,kW,\"Power, kW\",,,0,1000,,\r\n\
         grinding,mill_feed_belt,total_t,holding,2,u32,ABCD,0.001,0,t,\"Totaliser \"\"BW500\"\"\",,,,,,\r\n\
         crushing,crushing_plc,firmware,holding,100,string,,1,0,,,,8,,,,\r\n"
    );
    // And the normal form is a fixed point.
    let again = import_csv(&csv, "export.csv").unwrap();
    assert_eq!(
        export_csv(again.iter().map(|p| (p.plc.as_str(), p.tags.as_slice()))),
        csv
    );
}
