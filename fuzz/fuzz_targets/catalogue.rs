//! Both catalogue formats: `parse_document` in each of `Upstream`, `Toolhive` and `Auto`.
//! Invariants: never panics; the streaming upstream path and the tree path
//! (`parse_value` of the same JSON) agree; every server read re-reads identically from its
//! own JSON text (same document, same content hash).
#![no_main]

use libfuzzer_sys::fuzz_target;
use thv_domain::ServerJson;
use thv_domain::format::{DataFormat, ParsedDocument, parse_document, parse_value};

fuzz_target!(|data: &[u8]| {
    let tree: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    for format in [DataFormat::Upstream, DataFormat::Toolhive, DataFormat::Auto] {
        let parsed = parse_document(data, format);
        if let Some(value) = &tree {
            assert_eq!(parsed, parse_value(value.clone(), format), "streaming and tree parse differ ({format:?})");
        }
        if let Ok(doc) = &parsed {
            check_servers(doc);
        }
    }
});

fn check_servers(doc: &ParsedDocument) {
    for parsed in &doc.servers {
        let server: &ServerJson = &parsed.server;
        let again: ServerJson = match serde_json::from_str(server.json()) {
            Ok(s) => s,
            Err(e) => panic!("a server's own JSON does not re-read: {e}: {}", server.json()),
        };
        assert_eq!(&again, server, "re-read document differs");
        assert_eq!(again.content_hash(), server.content_hash(), "re-read content hash differs");
        assert_eq!(again.name(), server.name());
        assert_eq!(again.version(), server.version());
    }
}
