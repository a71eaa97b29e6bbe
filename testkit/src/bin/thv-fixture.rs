//! `thv-fixture -- CMD ARGS...`: runs CMD against the real `thv-registry-api` binary, for the
//! generated clients (`scripts/clients`), each of which is a program that talks to a server.
//!
//! It starts a local `OpenID` provider on 127.0.0.1, writes a configuration with two registries,
//! starts the binary (`THV_REGISTRY_API_BIN`, or built with cargo) on a free port, waits until it
//! is ready, and runs CMD with:
//!
//! | variable | value |
//! |---|---|
//! | `THV_URL` | the server's base URL, `http://127.0.0.1:PORT` |
//! | `THV_TOKEN` | a bearer token holding `manageEntries` and `manageSources` |
//! | `THV_REGISTRY` | `seed`, the default registry, readable without a token: the bundled 358-server seed (one version each) and a second file source with one server in four versions |
//! | `THV_MANAGED_REGISTRY` | `corp`, a managed source of the same name, readable and writable with the token |
//! | `THV_EXPECT_ENTRIES` | how many server versions the two files hold |
//! | `THV_EXPECT_SERVER` | the server with the most versions (the first such name): `io.github.example/releases` |
//! | `THV_EXPECT_SERVER_VERSIONS` | how many versions it has in the files |
//! | `THV_EXPECT_LATEST` | which of them is latest by the server's rule (`thv_domain::latest`) |
//!
//! The expectations are counted from the data files, not asked of the server. It exits with CMD's
//! status (128 + the signal when CMD was killed), stopping the server and the provider; when CMD
//! fails it prints the tail of the server's output.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use thv_domain::version::cmp_precedence;
use thv_domain::{ServerJson, Version};
use thv_testkit::oidc::{Idp, TestKey, now};
use thv_testkit::{RegistrySpec, SourceSpec, TestApp, read_json, workspace_root};

/// The seed catalogue, relative to the workspace root.
const SEED: &str = "examples/data/seed-358-servers.json";

/// The versions of the one server of the second source, in no order.
const RELEASES: &[&str] = &["1.2.0", "0.9.0", "1.10.0", "1.0.0"];

/// How many lines of the server's output a failure shows.
const TAIL: usize = 60;

/// What the seed file says the server must serve.
#[derive(Debug)]
struct Expect {
    entries: usize,
    server: String,
    versions: usize,
    latest: String,
}

/// Counts the seed's server versions and picks the server with the most versions (the first
/// name among ties) and its latest version. Only the version decides it here: the file has no
/// timestamps, so two non-semver versions of the chosen server cannot be ordered and fail.
fn expectations(seed: &Value) -> anyhow::Result<Expect> {
    let rows = seed.as_array().context("the seed file is not a JSON array of server.json")?;
    let mut by_name: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let server = ServerJson::from_value(row.clone()).with_context(|| format!("seed entry {i}"))?;
        by_name.entry(server.name().to_string()).or_default().push(server.version().clone());
    }
    let mut best: Option<(&String, &Vec<Version>)> = None;
    for (name, versions) in &by_name {
        if best.is_none_or(|(_, b)| versions.len() > b.len()) {
            best = Some((name, versions));
        }
    }
    let (name, versions) = best.context("the seed file is empty")?;
    let latest = latest(versions).with_context(|| format!("the latest version of {name}"))?;
    Ok(Expect { entries: rows.len(), server: name.clone(), versions: versions.len(), latest })
}

/// The latest of one server's versions, by `thv_domain::latest`'s order without timestamps:
/// semver beats non-semver, then semver precedence (build metadata ignored).
fn latest(versions: &[Version]) -> anyhow::Result<String> {
    let rank = |a: &Version, b: &Version| match (a.semver(), b.semver()) {
        (Some(x), Some(y)) => cmp_precedence(&x, &y),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    };
    let best = versions.iter().max_by(|a, b| rank(a, b)).context("no versions")?;
    let ties = versions.iter().filter(|v| rank(v, best) == Ordering::Equal).count();
    ensure!(ties == 1, "{ties} versions rank equal to {}: only publishedAt would order them", best.as_str());
    Ok(best.as_str().to_owned())
}

/// The command after an optional `--`.
fn command() -> anyhow::Result<Vec<String>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        bail!("usage: thv-fixture -- CMD ARGS...");
    }
    Ok(args)
}

async fn run(cmd: &[String]) -> anyhow::Result<u8> {
    let seed_path = workspace_root().join(SEED);
    // The seed has one version per server; a second source gives the default registry a server
    // with several, so the version list and `latest` (1.10.0 above 1.2.0) are checked for real.
    let releases_dir = tempfile::tempdir()?;
    let releases_path = releases_dir.path().join("releases.json");
    let releases: Vec<Value> = RELEASES
        .iter()
        .map(|v| {
            json!({
                "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
                "name": "io.github.example/releases",
                "description": format!("Release {v} of a server with several versions"),
                "version": v,
            })
        })
        .collect();
    std::fs::write(&releases_path, serde_json::to_vec(&releases)?)?;
    let Value::Array(mut rows) = read_json(&seed_path)? else { bail!("{SEED} is not a JSON array") };
    rows.extend(releases);
    let expect = expectations(&Value::Array(rows))?;

    let key = TestKey::rsa("fixture")?;
    let idp = Idp::start(&[&key]).await?;
    // Both roles through one claim; an hour, so a slow client run never sees it expire.
    let claims = idp.claims("walker", &json!({"groups": ["writers", "operators"], "exp": now() + 3600}));
    let token = key.sign(&claims)?;
    let app = TestApp::new()
        .source(SourceSpec::file("seed", Path::new(&seed_path)).format("upstream"))
        .source(SourceSpec::file("releases", &releases_path).format("upstream"))
        .managed_source("corp")
        .registry(RegistrySpec::new("seed", &["seed", "releases"]).public())
        .registry(RegistrySpec::new("corp", &["corp"]).access(json!({"groups": "writers"})))
        .default_registry("seed")
        .oauth_provider(
            idp.issuer(),
            json!({"manageEntries": [{"groups": "writers"}], "manageSources": [{"groups": "operators"}]}),
        );
    let server = app.spawn().await?;
    server.wait_ready().await?;
    eprintln!(
        "thv-fixture: {} ready; seed: {} entries, {} has {} version(s), latest {}",
        server.base_url(),
        expect.entries,
        expect.server,
        expect.versions,
        expect.latest
    );

    let status = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .env("THV_URL", server.base_url())
        .env("THV_TOKEN", &token)
        .env("THV_REGISTRY", "seed")
        .env("THV_MANAGED_REGISTRY", "corp")
        .env("THV_EXPECT_ENTRIES", expect.entries.to_string())
        .env("THV_EXPECT_SERVER", &expect.server)
        .env("THV_EXPECT_SERVER_VERSIONS", expect.versions.to_string())
        .env("THV_EXPECT_LATEST", &expect.latest)
        .status()
        .await
        .with_context(|| format!("running {}", cmd[0]))?;
    let code = status_code(status);
    if code != 0 {
        let output = server.stderr();
        let lines: Vec<&str> = output.lines().collect();
        let tail = &lines[lines.len().saturating_sub(TAIL)..];
        eprintln!("thv-fixture: `{}` failed ({status}); the server's last output:\n{}", cmd.join(" "), tail.join("\n"));
    }
    server.stop().await?;
    drop(idp);
    Ok(code)
}

/// The exit code to pass on: CMD's own, or 128 + the signal that ended it.
fn status_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
    u8::try_from(code).unwrap_or(1)
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match command() {
        Ok(cmd) => run(&cmd).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("thv-fixture: {e:#}");
            ExitCode::from(2)
        }
    }
}
