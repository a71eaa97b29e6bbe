//! The semantic rules of `packages[]`: identifier, version, argument names, and the transport
//! (a stdio transport has no URL; an HTTP one has an http(s) URL whose `{vars}` the package
//! defines, as an environment variable, a named argument or a positional `valueHint`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::rules::{array, exact_version};
use super::url::{parts, undefined_vars};
use super::{Issue, Keys, Loc};

pub(super) fn check(packages: &[Value], keys: Keys, out: &mut Vec<Issue>) {
    for (i, package) in packages.iter().enumerate() {
        if let Value::Object(package) = package {
            self::package(package, keys, &Loc::body().key("packages").index(i), out);
        }
    }
}

fn package(package: &Map<String, Value>, keys: Keys, at: &Loc, out: &mut Vec<Issue>) {
    if let Some(identifier) = package.get("identifier").and_then(Value::as_str)
        && identifier.chars().any(char::is_whitespace)
    {
        out.push(
            at.key("identifier").issue(
                "the package identifier must not contain spaces: give the package name as its registry spells it",
            ),
        );
    }
    if let Some(version) = package.get("version").and_then(Value::as_str) {
        exact_version(version, "package", &at.key("version"), out);
    }

    // The names a transport URL may use.
    let mut defined = BTreeSet::new();
    for variable in array(package.get(keys.of("environmentVariables"))) {
        if let Some(name) = variable.get("name").and_then(Value::as_str) {
            defined.insert(name);
        }
    }
    for field in [keys.of("packageArguments"), keys.of("runtimeArguments")] {
        for (j, argument) in array(package.get(field)).iter().enumerate() {
            if let Value::Object(argument) = argument {
                self::argument(argument, keys, &at.key(field).index(j), &mut defined, out);
            }
        }
    }
    if let Some(Value::Object(transport)) = package.get("transport") {
        self::transport(transport, &defined, &at.key("transport"), out);
    }
}

fn argument<'a>(
    argument: &'a Map<String, Value>,
    keys: Keys,
    at: &Loc,
    defined: &mut BTreeSet<&'a str>,
    out: &mut Vec<Issue>,
) {
    match argument.get("type").and_then(Value::as_str) {
        Some("named") => {
            if let Some(name) = argument.get("name").and_then(Value::as_str) {
                defined.insert(name);
                if name.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '$')) {
                    out.push(at.key("name").issue(
                        "a named argument's name is the flag alone, without spaces, `<`, `>` or `$` (e.g. `--port`): \
                         put its value in `value` or `default`",
                    ));
                }
            }
        }
        Some("positional") => {
            let hint = keys.of("valueHint");
            if let Some(hint) = argument.get(hint).and_then(Value::as_str) {
                defined.insert(hint);
            }
            if !argument.contains_key(hint) && !argument.contains_key("value") {
                out.push(at.issue(format!(
                    "a positional argument needs `value` (a fixed value) or `{hint}` (a label for the value the user gives)"
                )));
            }
        }
        _ => {}
    }
}

fn transport(transport: &Map<String, Value>, defined: &BTreeSet<&str>, at: &Loc, out: &mut Vec<Issue>) {
    let url = transport.get("url");
    match transport.get("type").and_then(Value::as_str) {
        Some("stdio") if url.is_some() => {
            out.push(at.key("url").issue(
                "a stdio transport has no url: remove `url`, or use type `streamable-http` or `sse` for a server reached over HTTP",
            ));
        }
        Some(kind @ ("streamable-http" | "sse")) => match url {
            None => out.push(at.key("url").issue(format!("a `{kind}` transport needs a `url` (http or https)"))),
            Some(Value::String(url)) => {
                if !parts(url).is_some_and(|p| matches!(p.scheme, "http" | "https")) {
                    out.push(at.key("url").issue("the transport url must be an absolute http or https URL"));
                }
                let undefined = undefined_vars(url, |v| defined.contains(v));
                if !undefined.is_empty() {
                    out.push(at.key("url").issue(format!(
                        "the transport url uses {undefined}, which the package does not define: each must be the name \
                         of an environment variable or a named argument, or a positional argument's valueHint"
                    )));
                }
            }
            Some(_) => {}
        },
        _ => {}
    }
}
