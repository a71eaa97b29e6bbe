//! `thv-registry-api`: the application core (`catalog`: the live catalogue, sync runs, replicas,
//! the coordinator) and around it configuration, CLI, HTTP API, telemetry and the composition root.
//!
//! Only this crate wires concrete adapters to ports. Adding a capability: put its rules in
//! `domain`, its outside-world needs in `ports`, their implementations in `adapters`, and connect
//! them here.

pub mod admin;
pub mod build_info;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod serve;
pub mod telemetry;
