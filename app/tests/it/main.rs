//! The application in-process (the real route tree and sync coordinator on a temporary data
//! directory) and the crate graph, in one test binary so that the crate links once: one module
//! per concern, sharing the `support` harness.

mod api;
mod architecture;
mod manage;
mod module_graph;
mod support;
mod sync;
