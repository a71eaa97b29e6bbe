//! The server binary the black-box tests start: `THV_REGISTRY_API_BIN`, or built once per test
//! process with `cargo build -p thv-app --bin thv-registry-api`.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::anyhow;

use crate::workspace_root;

/// Path of the server binary: `THV_REGISTRY_API_BIN`, or built once per process.
pub fn binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    if let Some(bin) = std::env::var_os("THV_REGISTRY_API_BIN") {
        return Ok(PathBuf::from(bin));
    }
    BUILT.get_or_init(build_binary).clone().map_err(|e| anyhow!(e))
}

fn build_binary() -> Result<PathBuf, String> {
    let root = workspace_root();
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", "thv-app", "--bin", "thv-registry-api"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("running `{cargo} build`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build -p thv-app --bin thv-registry-api` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = if target.is_relative() { root.join(target) } else { target };
    let bin = target.join("debug").join(format!("thv-registry-api{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() { Ok(bin) } else { Err(format!("built, but {} does not exist", bin.display())) }
}
