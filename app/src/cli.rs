//! Command line: `serve`, `version`, `config check`, `openapi`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

/// MCP Registry API server: syncs MCP server catalogues into named registries and serves them
/// over the official MCP Registry API.
#[derive(Debug, Parser)]
#[command(name = "thv-registry-api", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the API server.
    Serve {
        /// Path to the YAML configuration file.
        #[arg(long, env = "THV_REGISTRY_CONFIG")]
        config: PathBuf,
        /// Address to listen on: `:8080`, `127.0.0.1:8080`, `[::]:8080` (port 0 picks a free port).
        #[arg(long, default_value = ":8080")]
        address: String,
        /// Also serve `/health`, `/readiness`, `/version` and `/metrics` on this address (e.g.
        /// `:9090`), for probes and scrapers kept off the public port.
        #[arg(long)]
        internal_address: Option<String>,
        /// Log line format.
        #[arg(long, value_enum, default_value_t = LogFormat::Json)]
        log_format: LogFormat,
    },
    /// Print version information.
    Version {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Database migrations (PostgreSQL; run with the migration user).
    Migrate {
        #[command(subcommand)]
        command: MigrateCommand,
    },
    /// Create the application role `toolhive_registry_server` and the configured database user
    /// (its password read from stdin), and grant the role to the user.
    PrimeDb {
        /// Path to the YAML configuration file.
        #[arg(long, env = "THV_REGISTRY_CONFIG")]
        config: PathBuf,
        /// Print the SQL that would run (password masked) without connecting.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the OpenAPI document of the HTTP API (what `docs/openapi.yaml` holds).
    Openapi {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SpecFormat::Yaml)]
        format: SpecFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file without starting anything.
    Check {
        /// Path to the YAML configuration file.
        #[arg(long, env = "THV_REGISTRY_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Apply every pending migration.
    Up {
        /// Path to the YAML configuration file.
        #[arg(long, env = "THV_REGISTRY_CONFIG")]
        config: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Undo the latest migrations. Destructive: the tables they created are dropped.
    Down {
        /// Path to the YAML configuration file.
        #[arg(long, env = "THV_REGISTRY_CONFIG")]
        config: PathBuf,
        /// How many of the latest migrations to undo (required).
        #[arg(long)]
        num_steps: Option<u32>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpecFormat {
    Yaml,
    Json,
}

/// Turns a Go-style listen address (`:8080`) into a socket address string.
pub fn listen_address(raw: &str) -> String {
    match raw.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_addresses() {
        assert_eq!(listen_address(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("127.0.0.1:0"), "127.0.0.1:0");
        assert_eq!(listen_address("[::]:80"), "[::]:80");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
