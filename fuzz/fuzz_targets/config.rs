//! Config loading: YAML text (and `THV_REGISTRY_*` environment overrides) through the same code
//! as `Config::load_with_env`. Input: the YAML, optionally followed by a NUL byte and
//! `KEY=VALUE` lines of environment (the prefix is added when missing).
//! Invariants: never panics; a valid config can be described (`config check`); an invalid one
//! names at least one problem.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thv_app::config::{Config, ENV_PREFIX, describe};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (yaml, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            let key = if k.starts_with(ENV_PREFIX) { k.to_owned() } else { format!("{ENV_PREFIX}{k}") };
            (key, v.to_owned())
        })
        .collect();
    match Config::parse_with_env("fuzz.yaml", yaml, env) {
        Ok(config) => {
            assert!(!config.registries.is_empty(), "a valid config serves at least one registry");
            let _ = describe(&config);
        }
        Err(e) => assert!(!e.problems.is_empty(), "an invalid config names no problem"),
    }
});
