//! Each semantic rule: documents that pass, and documents that fail at the expected location.

use serde_json::{Value, json};

use super::{locations, package, semantic, with};
use crate::validate::validate;

/// `None`: the document is valid. `Some(location)`: the semantic rules report exactly that
/// location, and so does the whole validation (possibly among schema issues elsewhere).
#[track_caller]
fn check(cases: &[(&str, Value, Option<&str>)]) {
    for (label, doc, fails_at) in cases {
        let all = validate(doc);
        match fails_at {
            None => assert_eq!(all, [], "{label}: expected valid"),
            Some(location) => {
                let own = semantic(doc);
                assert_eq!(locations(&own), [*location], "{label}: semantic issues {own:?}");
                assert!(locations(&all).contains(location), "{label}: {all:?}");
                assert!(own[0].message.len() > 20, "{label}: a message that explains: {own:?}");
            }
        }
    }
}

fn with_package(patch: Value) -> Value {
    with(json!({"packages": [package(patch)]}))
}

fn with_remote(remote: Value) -> Value {
    with(json!({"remotes": Value::Array(vec![remote])}))
}

#[test]
fn name_has_one_slash_valid_parts_and_3_to_200_characters() {
    let long = format!("io.github.user/{}", "a".repeat(185));
    check(&[
        ("plain", with(json!({"name": "io.github.user/weather"})), None),
        ("200 characters", with(json!({"name": long})), None),
        ("two slashes", with(json!({"name": "io.github.user/a/b"})), Some("body.name")),
        ("no slash", with(json!({"name": "io.github.user"})), Some("body.name")),
        ("namespace edge", with(json!({"name": "-io.github/x"})), Some("body.name")),
        ("name edge", with(json!({"name": "io.github.user/x_"})), Some("body.name")),
        ("201 characters", with(json!({"name": format!("{long}a")})), Some("body.name")),
    ]);
}

const RANGES: &[&str] = &["^1", "~1.2", ">=1", "<2", "=1", "1 - 2", "1 || 2", "1.x", "1.2.*", "1.X"];

#[test]
fn versions_are_exact() {
    let mut cases = vec![
        ("semver", with(json!({"version": "1.0.2"})), None),
        ("not semver", with(json!({"version": "2024-01-01"})), None),
        ("latest", with(json!({"version": "latest"})), Some("body.version")),
    ];
    cases.extend(RANGES.iter().map(|r| (*r, with(json!({"version": r})), Some("body.version"))));
    check(&cases);
}

#[test]
fn package_versions_are_exact() {
    let at = Some("body.packages[0].version");
    let mut cases = vec![
        ("exact", with_package(json!({"version": "0.6.2"})), None),
        ("latest", with_package(json!({"version": "latest"})), at),
    ];
    cases.extend(RANGES.iter().map(|r| (*r, with_package(json!({"version": r})), at)));
    check(&cases);
}

#[test]
fn repository_is_a_github_or_gitlab_repo_with_a_clean_subfolder() {
    let repo = |url: &str, source: &str, subfolder: Option<&str>| {
        let mut r = json!({"url": url, "source": source});
        if let Some(s) = subfolder {
            r["subfolder"] = s.into();
        }
        with(json!({"repository": r}))
    };
    let (url, sub) = (Some("body.repository.url"), Some("body.repository.subfolder"));
    check(&[
        ("github", repo("https://github.com/modelcontextprotocol/servers", "github", Some("src/everything")), None),
        ("gitlab", repo("https://gitlab.com/group/project", "gitlab", None), None),
        ("other source", repo("https://bitbucket.org/o/r", "bitbucket", None), Some("body.repository.source")),
        ("host of another source", repo("https://gitlab.com/o/r", "github", None), url),
        ("no repo part", repo("https://github.com/owner", "github", None), url),
        ("deeper path", repo("https://github.com/o/r/tree/main", "github", None), url),
        ("http", repo("http://github.com/o/r", "github", None), url),
        ("absolute subfolder", repo("https://github.com/o/r", "github", Some("/src")), sub),
        ("trailing slash", repo("https://github.com/o/r", "github", Some("src/")), sub),
        ("parent", repo("https://github.com/o/r", "github", Some("../other")), sub),
        ("inner parent", repo("https://github.com/o/r", "github", Some("src/../../x")), sub),
        ("empty part", repo("https://github.com/o/r", "github", Some("src//x")), sub),
    ]);
}

#[test]
fn website_and_icons_are_absolute_https_and_title_is_not_blank() {
    let icon = |src: &str| with(json!({"icons": [{"src": src}]}));
    check(&[
        ("website", with(json!({"websiteUrl": "https://example.com/docs"})), None),
        ("http website", with(json!({"websiteUrl": "http://example.com"})), Some("body.websiteUrl")),
        ("relative website", with(json!({"websiteUrl": "example.com/docs"})), Some("body.websiteUrl")),
        ("icon", icon("https://example.com/icon.png"), None),
        ("http icon", icon("http://example.com/icon.png"), Some("body.icons[0].src")),
        ("title", with(json!({"title": "Weather"})), None),
        ("blank title", with(json!({"title": "   "})), Some("body.title")),
    ]);
}

#[test]
fn package_identifier_and_argument_names_have_no_spaces_or_placeholders() {
    let named = |name: &str| json!([{"type": "named", "name": name, "value": "1"}]);
    let at = Some("body.packages[0].packageArguments[0].name");
    check(&[
        ("identifier", with_package(json!({"identifier": "@scope/pkg"})), None),
        ("identifier with a space", with_package(json!({"identifier": "my pkg"})), Some("body.packages[0].identifier")),
        ("flag", with_package(json!({"packageArguments": named("--port")})), None),
        ("placeholder", with_package(json!({"packageArguments": named("--port <port>")})), at),
        ("shell variable", with_package(json!({"packageArguments": named("--port=$PORT")})), at),
        ("space", with_package(json!({"packageArguments": named("-p 80")})), at),
        (
            "runtime argument",
            with_package(json!({"runtimeHint": "npx", "runtimeArguments": named("<x>")})),
            Some("body.packages[0].runtimeArguments[0].name"),
        ),
        ("positional value", with_package(json!({"packageArguments": [{"type": "positional", "value": "mcp"}]})), None),
        (
            "positional without value",
            with_package(json!({"packageArguments": [{"type": "positional"}]})),
            Some("body.packages[0].packageArguments[0]"),
        ),
    ]);
}

#[test]
fn package_transports_match_their_type() {
    let http = |url: &str| json!({"type": "streamable-http", "url": url});
    let at = Some("body.packages[0].transport.url");
    let defines_all = json!({
        "transport": http("http://{host}:{--port}/{root}/{API_KEY}"),
        "packageArguments": [
            {"type": "named", "name": "--port", "default": "3000"},
            {"type": "positional", "valueHint": "root"},
        ],
        "runtimeHint": "npx",
        "runtimeArguments": [{"type": "named", "name": "host", "value": "localhost"}],
        "environmentVariables": [{"name": "API_KEY", "isSecret": true}],
    });
    check(&[
        ("stdio", with_package(json!({"transport": {"type": "stdio"}})), None),
        ("stdio with url", with_package(json!({"transport": {"type": "stdio", "url": "http://x"}})), at),
        ("local http", with_package(json!({"transport": http("http://localhost:3000/mcp")})), None),
        ("sse", with_package(json!({"transport": {"type": "sse", "url": "https://example.com/sse"}})), None),
        ("every variable defined", with_package(defines_all), None),
        ("undefined variable", with_package(json!({"transport": http("http://localhost:{port}/mcp")})), at),
        ("no url", with_package(json!({"transport": {"type": "streamable-http"}})), at),
        ("not http", with_package(json!({"transport": {"type": "sse", "url": "ftp://example.com/sse"}})), at),
    ]);
}

#[test]
fn remotes_are_public_https_with_defined_variables() {
    let at = Some("body.remotes[0].url");
    let remote = |url: &str| json!({"type": "streamable-http", "url": url});
    check(&[
        ("https", with_remote(remote("https://mcp.example.com/mcp")), None),
        ("sse", with_remote(json!({"type": "sse", "url": "https://mcp.example.com/sse"})), None),
        (
            "defined variable",
            with_remote(json!({"type": "sse", "url": "https://{tenant}.example.com/sse", "variables": {"tenant": {}}})),
            None,
        ),
        ("stdio", with_remote(json!({"type": "stdio", "url": "https://x.example.com"})), Some("body.remotes[0].type")),
        ("http", with_remote(remote("http://mcp.example.com/mcp")), at),
        ("localhost", with_remote(remote("https://localhost/mcp")), at),
        ("loopback", with_remote(remote("https://127.0.0.1:8443/mcp")), at),
        ("dot localhost", with_remote(remote("https://api.localhost/mcp")), at),
        ("undefined variable", with_remote(remote("https://{tenant}.example.com/mcp")), at),
        ("no url", with_remote(json!({"type": "sse"})), at),
    ]);
}

#[test]
fn undefined_variables_are_named_in_the_message() {
    let doc = with_remote(json!({
        "type": "sse",
        "url": "https://{region}.example.com/{tenant}/{tenant}",
        "variables": {"tenant": {}},
    }));
    let issues = validate(&doc);
    assert_eq!(locations(&issues), ["body.remotes[0].url"]);
    assert!(issues[0].message.starts_with("the remote url uses `{region}`, which"), "{issues:?}");
}
