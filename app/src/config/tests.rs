use std::io::Write;

use super::*;

fn load(yaml: &str) -> Result<Config, ConfigError> {
    load_env(yaml, &[])
}

fn load_env(yaml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    Config::load_with_env(f.path(), env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
}

fn problems(yaml: &str) -> String {
    load(yaml).unwrap_err().to_string()
}

#[test]
fn layout_1_single_source() {
    let c = load(
        "registryName: toolhive\nsource:\n  type: file\n  format: toolhive\n  file:\n    path: ./data/registry.json\nsyncPolicy:\n  interval: \"5m\"\nfilter:\n  names:\n    include: [\"io.github.*\"]\n",
    )
    .unwrap();
    assert_eq!(c.layout, 1);
    assert_eq!(c.sources.len(), 1);
    let s = &c.sources[0];
    assert_eq!((s.name.as_str(), s.interval, s.format), ("toolhive", Duration::from_secs(300), DataFormat::Toolhive));
    assert_eq!(s.kind, SourceKind::File { path: "./data/registry.json".into(), max_bytes: DEFAULT_MAX_BYTES });
    assert_eq!(s.filter_spec.names.include, vec!["io.github.*"]);
    assert_eq!(c.registries[0].name.as_str(), "toolhive");
    assert_eq!(c.default_registry.unwrap().as_str(), "toolhive");
}

#[test]
fn layout_2_inline_registries_also_get_a_merged_default() {
    let c = load(
        "registryName: mine\nregistries:\n  - name: one\n    format: upstream\n    file: {path: a.json}\n    filter: {tags: {include: [db]}}\n  - name: two\n    file: {path: b.json}\n    syncPolicy: {interval: 1h}\n",
    )
    .unwrap();
    assert_eq!(c.layout, 2);
    let names: Vec<_> = c.registries.iter().map(|r| (r.name.to_string(), r.sources.len())).collect();
    assert_eq!(names, vec![("one".into(), 1), ("two".into(), 1), ("mine".into(), 2)]);
    assert_eq!(c.default_registry.unwrap().as_str(), "mine");
    assert_eq!(c.sources[0].filter_spec.tags.include, vec!["db"]);
    assert_eq!(c.sources[1].interval, Duration::from_secs(3600));

    let single = load("registryName: toolhive\nregistries:\n  - name: local-file\n    file: {path: a.json}\n").unwrap();
    assert_eq!(single.registries.len(), 1);
    assert_eq!(single.default_registry.unwrap().as_str(), "local-file");
}

#[test]
fn layout_3_named_sources() {
    let c = load(
        "dataDir: /tmp/x\ndefaultRegistry: all\nsources:\n  - name: a\n    file: {path: a.json}\n  - name: b\n    format: toolhive\n    file: {path: b.json}\nregistries:\n  - name: all\n    sources: [b, a]\n    filter: {names: {exclude: [\"*/internal\"]}}\n  - name: only-a\n    sources: [a]\n",
    )
    .unwrap();
    assert_eq!(c.layout, 3);
    assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(c.registries[0].sources.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["b", "a"]);
    assert_eq!(c.default_registry.unwrap().as_str(), "all");
}

#[test]
fn the_original_seed_era_file_configs_load() {
    for name in ["config-file.yaml", "single-source-layout-35985af/config-file.yaml"] {
        let yaml =
            std::fs::read_to_string(format!("{}/tests/data/seed-era/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let c = load(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.sources[0].format, DataFormat::Toolhive, "{name}");
    }
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let msg = problems("registries:\n  - name: a\n    file: {pth: a.json}\n");
    assert!(msg.contains("`registries[0].file.pth`: unknown key; valid keys here are `path`"), "{msg}");
    let msg = problems("sourcez: []\n");
    assert!(msg.contains("`sourcez`: unknown key"), "{msg}");
    let msg = problems("source:\n  file: {path: a}\nfilter:\n  names: {inclde: [x]}\n");
    assert!(msg.contains("`filter.names.inclde`: unknown key"), "{msg}");
}

#[test]
fn bad_values_name_the_key_and_the_fix() {
    let cases = [
        ("source:\n  file: {path: a}\nsyncPolicy: {interval: 5 minutes}\n", "`syncPolicy.interval`", "e.g. `30s`"),
        ("source:\n  file: {path: a}\nsyncPolicy: {interval: 10ms}\n", "`syncPolicy.interval`", "at least 100ms"),
        ("registryName: Bad_Name\nsource:\n  file: {path: a}\n", "`registryName`", "lowercase"),
        ("source:\n  type: git\n  file: {path: a}\n", "`source.type`", "make them agree"),
        ("source:\n  format: json\n  file: {path: a}\n", "`source.format`", "unknown variant"),
        ("source: {}\n", "`source`", "add one of `file`, `git`, `api` or `managed`"),
        ("source:\n  file: {}\n", "`source.file.path`", "is required"),
        ("source:\n  managed: {}\nsyncPolicy: {interval: 1m}\n", "`syncPolicy`", "not synced"),
        ("source:\n  managed: {allowAnonymous: true}\n", "`source.managed.allowAnonymous`", "`allowAnonymousWrites`"),
        (
            "sources:\n  - {name: a, managed: {}}\n  - {name: b, managed: {}}\nregistries:\n  - {name: r, sources: [a, b]}\n",
            "`registries[0].sources`",
            "list at most one",
        ),
        ("source:\n  file: {path: a}\n  git: {repository: x}\n", "`source`", "exactly one location"),
        ("source:\n  git: {repository: x}\n", "`source.git`", "set one of `branch`, `tag` or `commit`"),
        ("source:\n  git: {repository: x, branch: a, tag: b}\n", "`source.git`", "mutually exclusive"),
        ("source:\n  git: {branch: main}\n", "`source.git.repository`", "is required"),
        ("source:\n  git: {repository: x, commit: xyz}\n", "`source.git.commit`", "7 to 40 hex digits"),
        ("source:\n  git: {repository: x, tag: v1, path: ../etc/passwd}\n", "`source.git.path`", "without `..`"),
        ("source:\n  git: {repository: x, tag: v1, maxBytes: 0}\n", "`source.git.maxBytes`", "at least 1"),
        ("source:\n  file: {path: a, maxBytes: 0}\n", "`source.file.maxBytes`", "at least 1"),
        (
            "source:\n  git: {repository: x, tag: v1, auth: {username: u}}\n",
            "`source.git.auth.passwordFile`",
            "is required",
        ),
        (
            "source:\n  git: {repository: x, tag: v1, auth: {username: u, passwordFile: /nonexistent/pw}}\n",
            "`source.git.auth.passwordFile`",
            "cannot read /nonexistent/pw",
        ),
        ("source:\n  api: {}\n", "`source.api.endpoint`", "is required"),
        ("source:\n  api: {endpoint: ftp://x}\n", "`source.api.endpoint`", "use an http:// or https:// URL"),
        ("source:\n  api: {endpoint: not a url}\n", "`source.api.endpoint`", "is not a URL"),
        (
            "source:\n  api: {endpoint: http://x, fullSyncInterval: soon}\n",
            "`source.api.fullSyncInterval`",
            "e.g. `30s`",
        ),
        ("source:\n  file: {path: a, url: http://x}\n", "`source.file`", "sets both"),
        ("source:\n  file: {url: file:///x}\n", "`source.file.url`", "http://"),
        ("source:\n  file: {path: a}\nsyncPolicy: {timeout: forever}\n", "`syncPolicy.timeout`", "e.g. `30s`"),
        ("source:\n  file: {path: a}\nfilter: {names: {include: [\"a/[b\"]}}\n", "`filter.names`", "`a/[b`"),
        ("source:\n  file: {path: a}\nregistries: []\n", "`source`", "use one layout"),
        ("{}\n", "no source configured", "`sources:` plus `registries:`"),
        ("source:\n  file: {path: a}\ndatabase: {host: x}\n", "`database.user`", "is required"),
        (
            "source:\n  file: {path: a}\ndatabase: {host: x, user: u, database: d, sslMode: maybe}\n",
            "`database.sslMode`",
            "verify-full",
        ),
        (
            "source:\n  file: {path: a}\ndatabase: {host: x, user: u, database: d, passwordFile: /nonexistent/pw}\n",
            "`database.passwordFile`",
            "cannot read /nonexistent/pw",
        ),
        (
            "source:\n  file: {path: a}\ndatabase: {host: x, user: u, database: d, maxOpenConns: 2, maxIdleConns: 5}\n",
            "`database.maxIdleConns`",
            "more than maxOpenConns",
        ),
        (
            "source:\n  file: {path: a}\ndatabase: {host: x, user: u, database: d, connMaxLifetime: long}\n",
            "`database.connMaxLifetime`",
            "e.g. `30s`",
        ),
        (
            "sources:\n  - name: a\n    file: {path: a}\nregistries:\n  - name: r\n    sources: [b]\n",
            "`registries[0].sources[0]`",
            "no source is named `b`",
        ),
        (
            "sources:\n  - name: a\n    file: {path: a}\n  - name: a\n    file: {path: b}\nregistries:\n  - name: r\n    sources: [a]\n",
            "`sources[1].name`",
            "more than one source",
        ),
        (
            "sources:\n  - name: a\n    file: {path: a}\nregistries:\n  - name: r\n    file: {path: a}\n",
            "`registries[0]`",
            "names its sources",
        ),
        (
            "sources:\n  - name: a\n    file: {path: a}\ndefaultRegistry: zz\nregistries:\n  - name: r\n    sources: [a]\n",
            "`defaultRegistry`",
            "no registry is named `zz`",
        ),
        ("registries:\n  - name: r\n    sources: [a]\n", "`registries[0].sources`", "no top-level `sources:`"),
        ("sources:\n  - file: {path: a}\nregistries: []\n", "`sources[0].name`", "is required"),
    ];
    for (yaml, key, fix) in cases {
        let msg = problems(yaml);
        assert!(msg.contains(key) && msg.contains(fix), "{yaml}\n=> {msg}");
    }
}

#[test]
fn git_api_and_url_sources() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let c = load(&format!(
        "sources:
  - name: g
    git: {{repository: https://example.com/r.git, tag: v1.2.0, auth: {{username: bot, passwordFile: {}}}, maxBytes: 1000}}
  - name: a
    api: {{endpoint: https://registry.example.com/, timeout: 5s, fullSyncInterval: 2h, maxPages: 7}}
  - name: u
    file: {{url: https://example.com/registry.json, timeout: 3s}}
registries:
  - name: r
    sources: [g, a, u]
",
        pw.display()
    ))
    .unwrap();
    let SourceKind::Git { repository, pin, path, auth, max_bytes } = &c.sources[0].kind else { panic!("git") };
    assert_eq!(
        (repository.as_str(), pin, path.as_str(), *max_bytes),
        ("https://example.com/r.git", &GitPin::Tag("v1.2.0".into()), "registry.json", 1000)
    );
    let auth = auth.as_ref().unwrap();
    assert_eq!((auth.username.as_str(), auth.password.as_str()), ("bot", "s3cret"));
    assert!(!format!("{:?}", c.sources[0]).contains("s3cret"), "secrets never show in Debug");
    let SourceKind::Api(api) = &c.sources[1].kind else { panic!("api") };
    assert_eq!(api.endpoint, "https://registry.example.com");
    assert_eq!(
        (api.timeout, api.full_sync_interval, api.max_pages),
        (Duration::from_secs(5), Duration::from_secs(7200), 7)
    );
    assert!(api.user_agent.starts_with("thv-registry-api/"));
    assert_eq!(
        c.sources[2].kind,
        SourceKind::Url {
            url: "https://example.com/registry.json".into(),
            timeout: Duration::from_secs(3),
            max_bytes: DEFAULT_MAX_BYTES
        }
    );
    assert_eq!(c.sources[0].timeout, DEFAULT_FETCH_TIMEOUT);
}

/// Layout 3 with one api source on `endpoint` whose `auth` is `auth`.
fn api_with_auth(endpoint: &str, auth: &str) -> String {
    format!(
        "sources:\n  - name: a\n    api: {{endpoint: {endpoint}, auth: {auth}}}\nregistries:\n  - {{name: r, sources: [a]}}\n"
    )
}

#[test]
fn api_bearer_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let token = "s3cret-bearer-t0ken";
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let yaml = api_with_auth("https://registry.example.com", &format!("{{bearerTokenFile: {}}}", file.display()));
    let c = load(&yaml).unwrap();
    let SourceKind::Api(api) = &c.sources[0].kind else { panic!("api") };
    assert_eq!(api.bearer_token_file.as_deref(), Some(file.as_path()), "the path is kept, the token is not");
    let summary = describe(&c);
    assert!(
        summary.contains(&format!("(api https://registry.example.com, bearer token from {})", file.display())),
        "{summary}"
    );
    for text in [summary, format!("{c:?}"), c.sources[0].kind.location()] {
        assert!(!text.contains(token), "the token shows: {text}");
    }

    // The digest has the file, not the token: a rotated token is no configuration change.
    let digest = c.sources[0].digest();
    std::fs::write(&file, "another-token\n").unwrap();
    assert_eq!(load(&yaml).unwrap().sources[0].digest(), digest);
    let other = dir.path().join("other");
    std::fs::write(&other, "another-token\n").unwrap();
    let moved =
        load(&api_with_auth("https://registry.example.com", &format!("{{bearerTokenFile: {}}}", other.display())));
    assert_ne!(moved.unwrap().sources[0].digest(), digest, "another file is another configuration");

    let key = "`sources[0].api.auth.bearerTokenFile`";
    let missing = dir.path().join("absent");
    let msg = problems(&api_with_auth("https://r.example.com", &format!("{{bearerTokenFile: {}}}", missing.display())));
    assert!(
        msg.contains(&format!("{key}: cannot read {}", missing.display()))
            && msg.contains("create the file with the token"),
        "{msg}"
    );

    for (text, fix) in [("", "is empty"), (" \n\t\n", "is empty"), ("one\ntwo\n", "holds more than one line")] {
        std::fs::write(&file, text).unwrap();
        let msg = problems(&yaml);
        assert!(msg.contains(&format!("{key}: {} {fix}", file.display())), "{text:?} => {msg}");
        assert!(!msg.contains("two"), "the content never shows: {msg}");
    }

    let msg = problems(&api_with_auth("https://r.example.com", "{}"));
    assert!(msg.contains(&format!("{key}: is required")), "{msg}");
    let msg = problems(&api_with_auth("https://r.example.com", "{tokenFile: /x}"));
    assert!(msg.contains("`sources[0].api.auth.tokenFile`: unknown key") && msg.contains("`bearerTokenFile`"), "{msg}");

    std::fs::write(&file, token).unwrap();
    let msg =
        problems(&api_with_auth("https://bot:pw@r.example.com", &format!("{{bearerTokenFile: {}}}", file.display())));
    assert!(msg.contains("`sources[0].api.auth`: the endpoint URL holds credentials too"), "{msg}");
    assert!(!msg.contains(token), "{msg}");
}

#[test]
fn the_original_seed_era_git_and_api_configs_load_without_database() {
    for name in [
        "config-git.yaml",
        "config-api.yaml",
        "single-source-layout-35985af/config-git.yaml",
        "single-source-layout-35985af/config-api.yaml",
    ] {
        let yaml =
            std::fs::read_to_string(format!("{}/tests/data/seed-era/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        load(&yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn database_settings_and_passwords() {
    let yaml = "source:\n  file: {path: a}\ndatabase: {host: db, user: app, database: registry}\n";
    let c = load_env(yaml, &[("THV_DATABASE_PASSWORD", "pw")]).unwrap();
    let db = c.database.unwrap();
    assert_eq!((db.port, db.ssl_mode, db.max_open_conns, db.max_idle_conns), (5432, database::SslMode::Require, 25, 5));
    assert_eq!(db.conn_max_lifetime, Duration::from_secs(300));
    assert_eq!(db.migration_user, "app");
    assert_eq!(db.password.as_ref().map(database::Secret::expose), Some("pw"));
    assert_eq!(
        db.migration_password.as_ref().map(database::Secret::expose),
        Some("pw"),
        "falls back to the app password"
    );
    assert!(!format!("{:?}", db.password).contains("pw"));

    let alt = load_env(yaml, &[("THV_REGISTRY_DATABASE_PASSWORD", "alt"), ("THV_DATABASE_MIGRATION_PASSWORD", "mig")])
        .unwrap();
    let db = alt.database.unwrap();
    assert_eq!(db.password.as_ref().map(database::Secret::expose), Some("alt"));
    assert_eq!(db.migration_password.as_ref().map(database::Secret::expose), Some("mig"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app"), "from-file\n").unwrap();
    std::fs::write(dir.path().join("mig"), "mig-file  \n").unwrap();
    let files = format!(
        "source:\n  file: {{path: a}}\ndatabase:\n  host: db\n  port: 6543\n  user: app\n  migrationUser: owner\n  database: registry\n  sslMode: verify-full\n  passwordFile: {}\n  migrationPasswordFile: {}\n  maxOpenConns: 10\n  maxIdleConns: 2\n  connMaxLifetime: 30m\n",
        dir.path().join("app").display(),
        dir.path().join("mig").display()
    );
    let db = load_env(&files, &[("THV_DATABASE_PASSWORD", "env-loses")]).unwrap().database.unwrap();
    assert_eq!(db.password.as_ref().map(database::Secret::expose), Some("from-file"));
    assert_eq!(db.migration_password.as_ref().map(database::Secret::expose), Some("mig-file"));
    assert_eq!((db.port, db.migration_user.as_str(), db.ssl_mode), (6543, "owner", database::SslMode::VerifyFull));
    assert_eq!((db.max_open_conns, db.max_idle_conns, db.conn_max_lifetime), (10, 2, Duration::from_secs(1800)));
}

#[test]
fn every_problem_is_reported_at_once() {
    let msg = problems(
        "sources:\n  - name: a\n    file: {}\n  - name: B\n    file: {path: x}\nregistries:\n  - name: r\n    sources: [a]\n",
    );
    assert!(msg.contains("`sources[0].file.path`") && msg.contains("`sources[1].name`"), "{msg}");
}

#[test]
fn environment_overrides_the_file() {
    let c = load_env(
        "source:\n  file: {path: a}\nsyncPolicy: {interval: 5m}\n",
        &[
            ("THV_REGISTRY_DATA_DIR", "/var/lib/registry"),
            ("THV_REGISTRY_SYNC_POLICY__INTERVAL", "30s"),
            ("THV_REGISTRY_DATABASE_PASSWORD", "secret-not-a-key"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/registry"));
    assert_eq!(c.sources[0].interval, Duration::from_secs(30));
    let k8s = [
        ("THV_REGISTRY_API_SERVICE_HOST", "10.0.0.1"),
        ("THV_REGISTRY_API_SERVICE_PORT", "8080"),
        ("THV_REGISTRY_API_SERVICE_PORT_HTTP", "8080"),
        ("THV_REGISTRY_API_PORT", "tcp://10.0.0.1:8080"),
        ("THV_REGISTRY_API_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
        ("THV_REGISTRY_API_PORT_8080_TCP_ADDR", "10.0.0.1"),
    ];
    assert!(load_env("source:\n  file: {path: a}\n", &k8s).is_ok(), "Kubernetes service links are not settings");
    let msg = load_env("source:\n  file: {path: a}\n", &[("THV_REGISTRY_DATA_DRI", "x")]).unwrap_err().to_string();
    assert!(msg.contains("`dataDri`: unknown key"), "{msg}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let msg = Config::load(Path::new("/nonexistent/config.yaml")).unwrap_err().to_string();
    assert!(msg.contains("/nonexistent/config.yaml") && msg.contains("--config"), "{msg}");
}

#[test]
fn digest_changes_with_filter_and_location() {
    let a = load("source:\n  file: {path: a}\n").unwrap();
    let b = load("source:\n  file: {path: a}\nfilter: {tags: {include: [x]}}\n").unwrap();
    let c = load("source:\n  file: {path: b}\n").unwrap();
    let d = load("source:\n  file: {path: a}\nsyncPolicy: {interval: 1h}\n").unwrap();
    assert_ne!(a.sources[0].digest(), b.sources[0].digest());
    assert_ne!(a.sources[0].digest(), c.sources[0].digest());
    assert_eq!(a.sources[0].digest(), d.sources[0].digest());
}

#[test]
fn every_duration_setting_has_a_maximum_named_in_its_error() {
    const DAY: &str = "24h0m0s";
    const MONTH: &str = "720h0m0s";
    let oauth = |extra: &str| {
        format!(
            "source:\n  file: {{path: a}}\nauth: {{mode: oauth, oauth: {{providers: [{{name: p, issuerUrl: 'https://a', audience: x}}], {extra}}}}}\n"
        )
    };
    let cases = [
        ("source:\n  file: {path: a}\nsyncPolicy: {interval: 721h}\n".to_owned(), "syncPolicy.interval", "721h", MONTH),
        (
            "source:\n  file: {path: a}\nsyncPolicy: {tombstoneRetention: 3000000000h}\n".to_owned(),
            "syncPolicy.tombstoneRetention",
            "3000000000h",
            "87600h0m0s",
        ),
        ("source:\n  file: {path: a}\nsyncPolicy: {timeout: 25h}\n".to_owned(), "syncPolicy.timeout", "25h", DAY),
        (
            "sources:\n  - name: a\n    file: {path: a}\n    syncPolicy: {interval: 1000h}\nregistries:\n  - name: r\n    sources: [a]\n"
                .to_owned(),
            "sources[0].syncPolicy.interval",
            "1000h",
            MONTH,
        ),
        ("source:\n  file: {url: 'http://x/a', timeout: 25h}\n".to_owned(), "source.file.timeout", "25h", DAY),
        ("source:\n  api: {endpoint: 'http://x', timeout: 25h}\n".to_owned(), "source.api.timeout", "25h", DAY),
        (
            "source:\n  api: {endpoint: 'http://x', fullSyncInterval: 721h}\n".to_owned(),
            "source.api.fullSyncInterval",
            "721h",
            MONTH,
        ),
        ("source:\n  file: {path: a}\nkubernetes: {timeout: 25h}\n".to_owned(), "kubernetes.timeout", "25h", DAY),
        ("source:\n  file: {path: a}\nkubernetes: {cacheTtl: 25h}\n".to_owned(), "kubernetes.cacheTtl", "25h", DAY),
        ("source:\n  file: {path: a}\nhttp: {requestTimeout: 3000000000h}\n".to_owned(), "http.requestTimeout", "3000000000h", DAY),
        ("source:\n  file: {path: a}\nhttp: {readHeaderTimeout: 25h}\n".to_owned(), "http.readHeaderTimeout", "25h", DAY),
        ("source:\n  file: {path: a}\nhttp: {idleTimeout: 25h}\n".to_owned(), "http.idleTimeout", "25h", DAY),
        ("source:\n  file: {path: a}\nhttp: {writeTimeout: 25h}\n".to_owned(), "http.writeTimeout", "25h", DAY),
        (
            "source:\n  file: {path: a}\ntelemetry: {metrics: {interval: 25h}}\n".to_owned(),
            "telemetry.metrics.interval",
            "25h",
            DAY,
        ),
        (
            "source:\n  file: {path: a}\ndatabase: {host: x, user: u, database: d, connMaxLifetime: 721h}\n".to_owned(),
            "database.connMaxLifetime",
            "721h",
            MONTH,
        ),
        (oauth("keyRefreshInterval: 25h"), "auth.oauth.keyRefreshInterval", "25h", DAY),
        (oauth("keyTtl: 721h"), "auth.oauth.keyTtl", "721h", MONTH),
        (oauth("clockSkew: 6m"), "auth.oauth.clockSkew", "6m", "5m0s"),
    ];
    for (yaml, key, value, max) in cases {
        let msg = problems(&yaml);
        let want = format!("`{key}`: `{value}` is longer than the maximum, {max}; the default is ");
        assert!(msg.contains(&want), "{yaml}\n=> {msg}\nwanted: {want}");
    }
    // At the maximum: accepted.
    let c =
        load("source:\n  file: {path: a}\nsyncPolicy: {interval: 720h, tombstoneRetention: 87600h, timeout: 24h}\n")
            .unwrap();
    assert_eq!(c.sources[0].interval, Duration::from_secs(720 * 3600));
    assert_eq!(c.sources[0].tombstone_retention, Duration::from_secs(87_600 * 3600));
}

#[test]
fn durations_too_large_to_represent_are_errors_naming_the_key() {
    let msg = problems("source:\n  file: {path: a}\nsyncPolicy: {tombstoneRetention: 99999999999999999999999h}\n");
    assert!(
        msg.contains("`syncPolicy.tombstoneRetention`: `99999999999999999999999h` is too long to be a duration"),
        "{msg}"
    );
    let msg = problems("source:\n  file: {path: a}\nhttp: {idleTimeout: 1e400s}\n");
    assert!(msg.contains("`http.idleTimeout`: `1e400s` is not a duration"), "{msg}");
}

#[test]
fn config_check_shows_the_connection_limits() {
    let c = load("source:\n  file: {path: a}\nhttp: {writeTimeout: 5s, maxConnections: 7}\n").unwrap();
    let summary = describe(&c);
    assert!(summary.contains("stalled writes 5s, up to 7 connections per listener"), "{summary}");
}

#[test]
fn yaml_text_loads_exactly_like_the_same_file() {
    let env = || [("THV_REGISTRY_DATA_DIR".to_owned(), "/tmp/from-env".to_owned())];
    let valid = "registryName: r\nsource:\n  type: file\n  file: {path: a.json}\nsyncPolicy: {interval: 2m}\n";
    let from_text = Config::parse_with_env("inline.yaml", valid, env()).unwrap();
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(valid.as_bytes()).unwrap();
    let from_file = Config::load_with_env(f.path(), env()).unwrap();
    assert_eq!(describe(&from_text), describe(&from_file));
    assert_eq!(from_text.data_dir, PathBuf::from("/tmp/from-env"));

    let invalid = "registryName: r\nsourse: {}\n";
    let err = Config::parse_with_env("inline.yaml", invalid, env()).unwrap_err();
    assert_eq!(err.file, "inline.yaml");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(invalid.as_bytes()).unwrap();
    assert_eq!(err.problems, Config::load_with_env(f.path(), env()).unwrap_err().problems);
}

#[test]
fn an_environment_value_with_a_backslash_is_taken_as_text() {
    // This value made figment's value parser panic (an escape before a multi-byte character).
    let env = || [("THV_REGISTRY_DATA_DIR".to_owned(), "\"apv\u{4cd}\\gis\"".to_owned())];
    let c = Config::parse_with_env("inline.yaml", "source:\n  file: {path: a.json}\n", env()).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("\"apv\u{4cd}\\gis\""));
}

#[test]
fn a_file_source_takes_a_size_limit_that_is_not_part_of_its_digest() {
    let plain = load("source:\n  file: {path: big.json}\n").unwrap();
    let limited = load("source:\n  file: {path: big.json, maxBytes: 1000000000}\n").unwrap();
    assert_eq!(limited.sources[0].kind, SourceKind::File { path: "big.json".into(), max_bytes: 1_000_000_000 });
    assert_eq!(limited.sources[0].digest(), plain.sources[0].digest(), "a limit does not change what is read");
    let url = load("source:\n  file: {url: 'https://example.com/r.json', maxBytes: 5}\n").unwrap();
    assert!(matches!(url.sources[0].kind, SourceKind::Url { max_bytes: 5, .. }));
}
