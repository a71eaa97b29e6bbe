//! Listing cursors: `decode_cursor` on any text, and `encode_cursor` round trips.
//! Invariants: never panics; a decoded position re-encodes to a cursor that decodes to it; a
//! cursor we make has no `/` and decodes back to the position it was made from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thv_domain::snapshot::{decode_cursor, encode_cursor};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok((name, version)) = decode_cursor(&text) {
        assert!(!name.is_empty() && !version.is_empty() && name.contains('/') && !name.contains(':'));
        let again = encode_cursor(&name, &version);
        assert_eq!(decode_cursor(&again), Ok((name, version)), "re-encoded cursor {again}");
    }
    // The input as a position: `name` up to the first `:`, the rest the version.
    if let Some((name, version)) = text.split_once(':')
        && !name.is_empty()
        && !version.is_empty()
        && name.contains('/')
    {
        let cursor = encode_cursor(name, version);
        assert!(!cursor.contains('/'), "cursor {cursor} has a `/`");
        assert_eq!(decode_cursor(&cursor), Ok((name.to_owned(), version.to_owned())), "cursor {cursor}");
    }
});
