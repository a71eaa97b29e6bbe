//! Walks a live thv-registry-api through the generated client and checks what it reads; run by
//! `scripts/clients` under `thv-fixture`, which starts the server and sets the environment:
//! `THV_URL`, `THV_TOKEN`, `THV_REGISTRY`, `THV_MANAGED_REGISTRY`, `THV_EXPECT_ENTRIES`,
//! `THV_EXPECT_SERVER`, `THV_EXPECT_SERVER_VERSIONS`, `THV_EXPECT_LATEST`.
//!
//! Every page of the registry with a small limit (the count equals the catalogue's, rows in
//! order and unique), one server's versions and its latest version, a typed 404 problem for a
//! missing server, `/v1/sources` with the token, and one publish read back equal.

use std::num::NonZeroU64;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use thv_registry_client::{Client, Error, types};

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run this under thv-fixture (scripts/clients)"))
}

fn client(base: &str, token: Option<&str>) -> anyhow::Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("thv-registry-client-walk")
        .default_headers(headers)
        .build()?;
    Ok(Client::new_with_client(base, http))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = env("THV_URL")?;
    let token = env("THV_TOKEN")?;
    let registry = env("THV_REGISTRY")?;
    let managed = env("THV_MANAGED_REGISTRY")?;
    let expect_entries: usize = env("THV_EXPECT_ENTRIES")?.parse()?;
    let server = env("THV_EXPECT_SERVER")?;
    let expect_versions: usize = env("THV_EXPECT_SERVER_VERSIONS")?.parse()?;
    let expect_latest = env("THV_EXPECT_LATEST")?;
    let anonymous = client(&base, None)?;
    let writer = client(&base, Some(&token))?;

    // Every page, 7 rows at a time.
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = anonymous
            .list_registry_servers(&registry, cursor.as_deref(), None, NonZeroU64::new(7), None, None, None)
            .await
            .context("listing servers")?
            .into_inner();
        pages += 1;
        ensure!(page.metadata.count as usize == page.servers.len(), "metadata.count disagrees with the page");
        rows.extend(page.servers.into_iter().map(|s| (s.server.name, s.server.version)));
        match page.metadata.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ensure!(rows.len() == expect_entries, "walked {} rows, the catalogue has {expect_entries}", rows.len());
    ensure!(rows.windows(2).all(|w| w[0] < w[1]), "rows are not in (name, version) order or not unique");

    // One server's versions and its latest version.
    let versions = anonymous.list_registry_server_versions(&registry, &server, None).await?.into_inner();
    ensure!(
        versions.servers.len() == expect_versions,
        "{server}: {} versions, expected {expect_versions}",
        versions.servers.len()
    );
    let latest = anonymous.get_registry_server_version(&registry, &server, "latest", None).await?.into_inner();
    ensure!(
        latest.server.version == expect_latest,
        "{server}: latest is {}, expected {expect_latest}",
        latest.server.version
    );
    ensure!(latest.meta.io_modelcontextprotocol_registry_official.is_latest, "{server}: latest is not isLatest");
    let by_name = anonymous.get_registry_server(&registry, &server).await?.into_inner();
    ensure!(by_name.server.version == expect_latest, "{server}: GET by name is {}", by_name.server.version);

    // A missing server: a typed problem.
    match anonymous.get_registry_server_version(&registry, "io.github.nobody/nothing", "latest", None).await {
        Err(Error::ErrorResponse(problem)) => {
            ensure!(problem.status() == 404, "missing server: HTTP {}", problem.status());
            let problem: types::Problem = problem.into_inner();
            ensure!(problem.status == 404 && !problem.title.is_empty() && !problem.detail.is_empty(), "{problem:?}");
        }
        other => bail!("missing server: expected a 404 problem, got {other:?}"),
    }

    // The sources, with the token.
    let sources = writer.list_sources().await.context("listing /v1/sources")?.into_inner();
    ensure!(sources.sources.iter().any(|s| s.registries.contains(&registry)), "no source of {registry} in /v1/sources");

    // Publish one server and read it back.
    let published = types::ServerDetail {
        schema: Some("https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json".to_owned()),
        name: "io.github.example/walk-rust".to_owned(),
        description: "Published by the generated Rust client".to_owned(),
        version: "1.0.0".to_owned(),
        title: Some("Walk (Rust)".to_owned()),
        repository: None,
        website_url: Some("https://example.com/walk-rust".to_owned()),
        icons: Vec::new(),
        packages: vec![types::Package {
            registry_type: Some("cargo".to_owned()),
            identifier: Some("walk-rust".to_owned()),
            version: Some("1.0.0".to_owned()),
            transport: Some(serde_json::json!({"type": "stdio"})),
            ..types::Package::default()
        }],
        remotes: Vec::new(),
        meta: None,
    };
    let stored = writer.publish_registry_server(&managed, &published).await.context("publishing")?.into_inner();
    ensure!(stored.meta.io_modelcontextprotocol_registry_official.is_latest, "the published version is not latest");
    let read =
        writer.get_registry_server_version(&managed, &published.name, &published.version, None).await?.into_inner();
    ensure!(
        serde_json::to_value(&read.server)? == serde_json::to_value(&published)?,
        "read back {:?}, published {published:?}",
        read.server
    );

    println!(
        "rust (progenitor): {} rows in {pages} pages, {server}: {expect_versions} versions, latest {expect_latest}, \
         404 problem typed, {} sources, published and read back {}",
        rows.len(),
        sources.sources.len(),
        published.name
    );
    Ok(())
}
