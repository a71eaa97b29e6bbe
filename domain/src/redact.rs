//! Locations as they may be shown: a URL without its secrets.
//!
//! A source's URL can carry credentials in two places: userinfo (`https://user:pass@host/…`) and
//! the query (`?token=…`, presigned `X-Amz-Signature=…`). Everywhere a location is shown — sync
//! messages, `/v1/sources`, `/readiness`, logs, `config check` — it goes through [`location`]
//! first: userinfo is dropped, every query value and the fragment become `***`, and the query
//! keys stay so an operator can still tell which URL it is.

/// What a redacted value is shown as.
pub const REDACTED: &str = "***";

/// `raw` with userinfo removed and query values and fragment replaced by `***`. Works on any
/// text (a malformed URL or a plain path is redacted as far as it looks like a URL), so it is
/// safe to call on whatever a user configured.
pub fn location(raw: &str) -> String {
    let raw = raw.trim();
    let (before_fragment, fragment) = match raw.split_once('#') {
        Some((head, _)) => (head, true),
        None => (raw, false),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&without_userinfo(base));
    if let Some(query) = query {
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                // A bare `?secret` is a value with no key.
                None if !pair.is_empty() => out.push_str(REDACTED),
                None => {}
            }
        }
    }
    if fragment {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// `scheme://user:pass@host/path` → `scheme://host/path`; anything else unchanged.
fn without_userinfo(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else { return base.to_owned() };
    let authority_start = scheme_end + 3;
    let rest = &base[authority_start..];
    let authority_len = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    match authority.rfind('@') {
        Some(at) => format!("{}{}{}", &base[..authority_start], &authority[at + 1..], &rest[authority_len..]),
        None => base.to_owned(),
    }
}

/// Replaces every occurrence of a URL's secret parts that `text` may quote verbatim (for error
/// texts from libraries that print the URL they were given): `raw` by [`location`] of it.
pub fn in_text(text: &str, raw: &str) -> String {
    let raw = raw.trim();
    if raw.is_empty() || !text.contains(raw) {
        return text.to_owned();
    }
    text.replace(raw, &location(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_and_keys_kept() {
        let cases = [
            ("https://example.com/registry.json", "https://example.com/registry.json"),
            ("https://example.com/r.json?token=abc", "https://example.com/r.json?token=***"),
            (
                "https://bucket.s3.amazonaws.com/r.json?X-Amz-Credential=AK%2F1&X-Amz-Signature=deadbeef",
                "https://bucket.s3.amazonaws.com/r.json?X-Amz-Credential=***&X-Amz-Signature=***",
            ),
            ("https://user:pa%40ss@example.com/x", "https://example.com/x"),
            ("https://user:p@ss@example.com", "https://example.com"),
            ("https://tok@example.com:8443/a?b", "https://example.com:8443/a?***"),
            ("http://h/p?a=1&&b=", "http://h/p?a=***&&b=***"),
            ("http://h/p#frag", "http://h/p#***"),
            ("http://h/p?", "http://h/p?"),
            ("/var/lib/registry.json", "/var/lib/registry.json"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            ("not a url ?x=1", "not a url ?x=***"),
            ("  https://h/p?k=v  ", "https://h/p?k=***"),
        ];
        for (raw, want) in cases {
            assert_eq!(location(raw), want, "{raw}");
        }
    }

    #[test]
    fn a_url_quoted_in_a_message_is_redacted() {
        let raw = "https://h/r.json?token=s3cret";
        let text = format!("error sending request for url ({raw}): connection refused");
        let shown = in_text(&text, raw);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("https://h/r.json?token=***"), "{shown}");
    }
}
