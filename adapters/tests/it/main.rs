//! The adapters against real things (git repositories, HTTP servers on 127.0.0.1, a Kubernetes
//! API stub, PostgreSQL), in one test binary so that the crate links once: one module per adapter.
//! The `Source` contract runs on every source adapter in `source_contract`. Add a test to the
//! module of its adapter, or a module here for a new adapter (and a row in `source_contract` for a
//! new source kind). The stubs are `thv_testkit::Loopback` apps.

mod api_source;
mod git_source;
mod http_file_source;
mod kubernetes;
mod postgres_store;
mod source_contract;

/// The bytes of fetched documents (a file's read whole).
fn in_memory(documents: Vec<thv_ports::Document>) -> Vec<bytes::Bytes> {
    documents.into_iter().map(|d| d.into_bytes().unwrap_or_else(|e| panic!("a document cannot be read: {e}"))).collect()
}
