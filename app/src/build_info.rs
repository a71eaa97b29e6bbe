//! This binary's build metadata (version, git commit, build time), set by `build.rs`; shown by
//! `version`, `GET /version` and the `thv_registry_api_build_info` metric.

/// Build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: String,
    pub git_commit: String,
    pub build_time: String,
}

impl BuildInfo {
    /// This binary's build information.
    pub fn current() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: option_env!("THV_GIT_COMMIT").unwrap_or("unknown").to_owned(),
            build_time: option_env!("THV_BUILD_TIME").unwrap_or("unknown").to_owned(),
        }
    }
}
