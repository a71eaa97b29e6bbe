//! The `thv-registry-api` binary.

use std::process::ExitCode;

use clap::Parser as _;
use thv_app::build_info::BuildInfo;
use thv_app::cli::{Cli, Command, ConfigCommand, MigrateCommand, OutputFormat, SpecFormat, listen_address};
use thv_app::config::Config;
use thv_app::telemetry::log_writer::LogWriter;

/// Runs an administration command on a small runtime; errors go to stderr with exit code 1.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, address, internal_address, log_format } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            // Outside the runtime: the OTLP exporters use blocking HTTP clients.
            let log = LogWriter::new(std::io::stderr());
            let telemetry =
                match thv_app::telemetry::init(log_format, &config.log_level, log.clone(), Some(&config.telemetry)) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("error: cannot set up telemetry: {e:#}");
                        return ExitCode::FAILURE;
                    }
                };
            if log_format == thv_app::telemetry::LogFormat::Json {
                // Request lines formatted without the generic JSON formatter, in the same form.
                thv_app::telemetry::request_log::install(log.clone());
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let internal = internal_address.as_deref().map(listen_address);
            let result =
                runtime.block_on(thv_app::serve::serve(config, &listen_address(&address), internal.as_deref()));
            drop(runtime);
            let code = match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "server failed");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            };
            telemetry.shutdown();
            log.flush();
            code
        }
        Command::Version { format } => {
            let v = BuildInfo::current();
            match format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::json!({"version": v.version, "git_commit": v.git_commit, "build_time": v.build_time})
                ),
                OutputFormat::Text => {
                    println!("thv-registry-api {}\ncommit: {}\nbuilt: {}", v.version, v.git_commit, v.build_time);
                }
            }
            ExitCode::SUCCESS
        }
        Command::Config { command: ConfigCommand::Check { config } } => match Config::load(&config) {
            Ok(c) => {
                print!("{}", thv_app::config::describe(&c));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate { command } => run_async(async move {
            match command {
                MigrateCommand::Up { config, yes } => thv_app::admin::migrate_up(&config, yes).await,
                MigrateCommand::Down { config, num_steps, yes } => {
                    thv_app::admin::migrate_down(&config, num_steps, yes).await
                }
            }
        }),
        Command::PrimeDb { config, dry_run } => run_async(thv_app::admin::prime_db(&config, dry_run)),
        Command::Openapi { format } => {
            match format {
                SpecFormat::Yaml => print!("{}", thv_app::http::spec_yaml()),
                SpecFormat::Json => println!("{}", thv_app::http::spec_json()),
            }
            ExitCode::SUCCESS
        }
    }
}
