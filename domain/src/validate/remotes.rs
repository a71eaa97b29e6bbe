//! The semantic rules of `remotes[]`: type `streamable-http` or `sse`, an https URL that does
//! not point at this machine, and every `{var}` of it defined in the remote's `variables`.

use serde_json::{Map, Value};

use super::url::{is_local_host, parts, undefined_vars};
use super::{Issue, Loc};

pub(super) fn check(remotes: &[Value], out: &mut Vec<Issue>) {
    for (i, remote) in remotes.iter().enumerate() {
        if let Value::Object(remote) = remote {
            self::remote(remote, &Loc::body().key("remotes").index(i), out);
        }
    }
}

fn remote(remote: &Map<String, Value>, at: &Loc, out: &mut Vec<Issue>) {
    match remote.get("type") {
        Some(Value::String(kind)) if matches!(kind.as_str(), "streamable-http" | "sse") => {}
        Some(Value::String(kind)) => out.push(at.key("type").issue(format!(
            "remote type `{kind}` is not supported: a remote is reached over the network, use `streamable-http` or `sse`"
        ))),
        Some(_) => {}
        None => out.push(at.key("type").issue("a remote needs a `type`: `streamable-http` or `sse`")),
    }
    let url = match remote.get("url") {
        Some(Value::String(url)) => url,
        Some(_) => return,
        None => {
            out.push(at.key("url").issue("a remote needs a `url` (https)"));
            return;
        }
    };
    match parts(url) {
        Some(p) if p.scheme != "https" => {
            out.push(at.key("url").issue("a remote url must use https"));
        }
        Some(p) if is_local_host(p.host) => out.push(at.key("url").issue(format!(
            "a remote url must not point at this machine (`{}`): give the public host clients connect to",
            p.host
        ))),
        Some(_) => {}
        None => {
            out.push(at.key("url").issue("a remote url must be an absolute https URL, like `https://example.com/mcp`"));
        }
    }
    let variables = remote.get("variables").and_then(Value::as_object);
    let undefined = undefined_vars(url, |v| variables.is_some_and(|vars| vars.contains_key(v)));
    if !undefined.is_empty() {
        out.push(at.key("url").issue(format!(
            "the remote url uses {undefined}, which the remote does not define: add each to its `variables`"
        )));
    }
}
