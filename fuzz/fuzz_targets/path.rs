//! Path normalisation and the strict path check, on any request path.
//! Invariants: never panics; a path `check_path` accepts has, once percent-decoded, no `.` or
//! `..` segment, no control character, no backslash, no `%XX` left (double encoding) and is
//! UTF-8; a rewritten path is accepted when the original was, and needs no second rewrite.
#![no_main]

use libfuzzer_sys::fuzz_target;
use thv_app::http::harden::check_path;
use thv_app::http::rewrite::rewrite_path;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let accepted = check_path(path).is_ok();
    if accepted {
        assert_safe(path);
    }
    if let Some(rewritten) = rewrite_path(path) {
        assert_ne!(rewritten, path, "a rewrite that changes nothing");
        if accepted {
            assert_eq!(check_path(&rewritten), Ok(()), "{path} is accepted, its rewrite {rewritten} is not");
        }
        assert_eq!(rewrite_path(&rewritten), None, "{path} → {rewritten} needs a second rewrite");
    }
});

fn assert_safe(path: &str) {
    let decoded = percent_decode(path.as_bytes());
    let Ok(text) = std::str::from_utf8(&decoded) else { panic!("{path} accepted, not UTF-8 once decoded") };
    for seg in text.split('/') {
        assert!(seg != "." && seg != "..", "{path} accepted with a dot segment");
    }
    assert!(!text.chars().any(char::is_control), "{path} accepted with a control character");
    assert!(!text.contains('\\'), "{path} accepted with a backslash");
    let again = percent_decode(&decoded);
    assert_eq!(again, decoded, "{path} accepted, percent-encoded twice");
}

/// Decodes every `%XX`; a `%` without two hex digits stays.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
