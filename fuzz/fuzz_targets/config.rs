//! Config parsing and validation: any text gives settings or errors naming
//! a key, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use plantgw::config::{validate, RawConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(raw) = toml::from_str::<RawConfig>(text) {
        if let Err(issues) = validate(&raw, std::path::Path::new("/nonexistent")) {
            assert!(issues.iter().all(|i| !i.key.is_empty() && !i.reason.is_empty()));
        }
    }
});
