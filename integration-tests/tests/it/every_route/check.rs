//! The checks on one reply of the walk: no hidden mark, no secret, no server error, and a hidden
//! name answered exactly like a missing one.

use std::collections::BTreeSet;

use thv_testkit::{Reply, enc};

use super::model::{Kind, Mark, SECRETS};
use super::walk::Call;

/// Headers and body of a reply as one text to search.
pub(super) fn reply_text(reply: &Reply) -> String {
    let mut text = String::new();
    for (name, value) in &reply.headers {
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push('\n');
    }
    text.push('\n');
    text.push_str(&reply.body);
    text
}

pub(super) struct Caller {
    pub(super) label: &'static str,
    pub(super) kind: Kind,
    pub(super) token: Option<String>,
}

/// The checks on one reply; violations are appended to `out`. Returns whether the reply was
/// compared with the one for a missing name.
pub(super) fn check(
    caller: &Caller,
    call: &Call,
    reply: &Reply,
    missing: Option<&Reply>,
    marks: &[Mark],
    out: &mut Vec<String>,
) -> bool {
    let at = format!("{} {} as {}", call.method, call.path(), caller.label);
    let text = reply_text(reply);
    // What the caller sent itself may come back (compared with a missing name below).
    let sent: BTreeSet<String> = call.fills.iter().flat_map(|f| [f.text.clone(), enc(&f.text)]).collect();
    for mark in marks.iter().filter(|m| !sent.contains(&m.text)) {
        if text.contains(&mark.text) {
            out.push(format!("{at} ({}): leaks {} (`{}`)", reply.status, mark.what, mark.text));
        }
    }
    for secret in SECRETS {
        if text.contains(secret) {
            out.push(format!("{at} ({}): leaks the configured secret `{secret}`", reply.status));
        }
    }
    // The documented 501s: deployed servers without a `kubernetes` section, and writes into a
    // registry without a managed source (this world has none).
    let deployed_off = reply.status == 501 && call.template.contains("deployed");
    let publishing_off = reply.status == 501 && call.method == "DELETE";
    if reply.status >= 500 && !deployed_off && !publishing_off && call.template != "/readiness" {
        out.push(format!("{at}: server error {}: {}", reply.status, reply.body));
    }
    let (Some(missing), Some((missing_path, swaps))) = (missing, call.as_missing(caller.kind)) else { return false };
    {
        let mut body = reply.body.clone();
        for (hidden, absent) in &swaps {
            body = body.replace(hidden.as_str(), absent).replace(&enc(hidden), &enc(absent));
        }
        if reply.status != missing.status || body != missing.body || reply.content_type() != missing.content_type() {
            out.push(format!(
                "{at}: tells a hidden name exists: {} {} but {missing_path} (missing) answers {} {}",
                reply.status, reply.body, missing.status, missing.body
            ));
        }
    }
    true
}
