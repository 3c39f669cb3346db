//! The part of a configuration file that `PLANTGW_` environment overrides
//! can reach: every section but the `[[plc]]` list, which a variable cannot
//! index. Read without building the tag list, so applying an override costs
//! the size of the sections, not of the plant.
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The file's top-level tables and keys except `plc`.
pub(super) struct Sections(toml::Table);

impl Sections {
    /// The sections as TOML text again, for the layered loader.
    pub(super) fn to_toml(&self) -> String {
        // Serialising a table parsed from TOML cannot fail: every value in
        // it came from TOML. Should it, the overrides still apply to an
        // empty file and validation names what is missing.
        toml::to_string(&self.0).unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Sections {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopLevel;
        impl<'de> Visitor<'de> for TopLevel {
            type Value = Sections;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a TOML document")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sections, A::Error> {
                let mut table = toml::Table::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "plc" {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        table.insert(key, map.next_value::<toml::Value>()?);
                    }
                }
                Ok(Sections(table))
            }
        }
        d.deserialize_map(TopLevel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plc_list_is_left_out_and_every_section_kept() {
        let text = r#"
[site]
name = "caylloma"
[[plc]]
name = "crushing"
[[plc.tag]]
name = "feed"
[influxdb]
url = "http://127.0.0.1:8086"
batch_size = 5000
"#;
        let s: Sections = toml::from_str(text).unwrap();
        let back: toml::Table = toml::from_str(&s.to_toml()).unwrap();
        assert!(back.get("plc").is_none());
        assert_eq!(back["site"]["name"].as_str(), Some("caylloma"));
        assert_eq!(back["influxdb"]["batch_size"].as_integer(), Some(5000));
    }
}
