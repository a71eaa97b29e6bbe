//! The parts of a URL the publish rules look at, read without a URL parser: server.json URLs
//! are templates (`https://{host}/mcp`, `http://localhost:{--port}/mcp`) that no parser accepts
//! before substitution, and the schema's `format: uri` already checks the plain ones.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The scheme and host of an absolute URL (`scheme://[userinfo@]host[:port][/…]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parts<'a> {
    pub scheme: &'a str,
    pub host: &'a str,
}

/// The scheme and host of `raw`, or `None` when it is not an absolute URL with a host (or
/// contains whitespace).
pub(super) fn parts(raw: &str) -> Option<Parts<'_>> {
    if raw.chars().any(char::is_whitespace) {
        return None;
    }
    let (scheme, rest) = raw.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return None;
    }
    Some(Parts { scheme, host })
}

/// Whether `host` names this machine: `localhost`, `*.localhost`, or a loopback or unspecified
/// IP address (`127.0.0.1`, `127.1.2.3`, `::1`, `0.0.0.0`, `::ffff:127.0.0.1`). Private
/// addresses are not refused: a registry that publishes internally may point at them.
pub(super) fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return ip.is_loopback() || ip.is_unspecified();
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        let mapped = ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_unspecified());
        return ip.is_loopback() || ip.is_unspecified() || mapped;
    }
    false
}

/// The `{names}` of a URL template, in order, each once.
pub(super) fn template_vars(raw: &str) -> Vec<&str> {
    let mut vars: Vec<&str> = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !name.is_empty() && !vars.contains(&name) {
            vars.push(name);
        }
        rest = &after[close + 1..];
    }
    vars
}

/// The `{vars}` of a URL template that are not `defined`, as `` `{a}`, `{b}` ``; empty when
/// there are none.
pub(super) fn undefined_vars(url: &str, defined: impl Fn(&str) -> bool) -> String {
    let undefined: Vec<String> =
        template_vars(url).into_iter().filter(|v| !defined(v)).map(|v| format!("`{{{v}}}`")).collect();
    undefined.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_reads_scheme_and_host_of_templates_too() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("https://example.com/mcp", Some(("https", "example.com"))),
            ("https://user:pw@example.com:8443/x?y#z", Some(("https", "example.com"))),
            ("https://{host}/mcp", Some(("https", "{host}"))),
            ("http://localhost:{--port}/mcp", Some(("http", "localhost"))),
            ("https://[::1]:8080/", Some(("https", "::1"))),
            ("https://example.com", Some(("https", "example.com"))),
            ("example.com/mcp", None),
            ("https:///path", None),
            ("https://exa mple.com/", None),
            ("1http://example.com", None),
            ("https://[::1/", None),
        ];
        for (raw, want) in cases {
            let got = parts(raw).map(|p| (p.scheme, p.host));
            assert_eq!(got, *want, "{raw}");
        }
    }

    #[test]
    fn local_hosts_are_recognised() {
        for local in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "api.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "::1",
            "::",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_local_host(local), "{local}");
        }
        for remote in ["example.com", "localhost.example.com", "10.0.0.1", "192.168.1.1", "2001:db8::1", "{host}"] {
            assert!(!is_local_host(remote), "{remote}");
        }
    }

    #[test]
    fn template_vars_are_the_braced_names() {
        assert_eq!(template_vars("https://{host}:{port}/{host}/x"), ["host", "port"]);
        assert_eq!(template_vars("http://localhost:{--port}/mcp"), ["--port"]);
        assert!(template_vars("https://example.com/{}/{unclosed").is_empty());
    }
}
