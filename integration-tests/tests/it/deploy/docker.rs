//! The Docker files: a multi-stage, non-root, health-checked Dockerfile, and a compose file whose
//! services are health-checked and ordered and whose config `config check` accepts.

use serde_json::Value;
use thv_testkit::workspace_root;

use super::{
    IMAGE_EXAMPLES, arr_of, config_check, deploy_dir, dockerfile_instructions, documents, file_source_paths, read,
    str_of, with_local_password_files,
};

#[test]
fn compose_config_passes_config_check() {
    let path = workspace_root().join("examples/config-docker.yaml");
    let text = read(&path);
    let config: Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(config["database"]["host"], "postgres");
    assert_eq!(config["database"]["user"], "db_app");
    assert_eq!(config["database"]["migrationUser"], "db_migrator");
    assert_eq!(config["database"]["sslMode"], "disable");
    let sources = file_source_paths(&config);
    assert_eq!(sources, [workspace_root().join("examples/data/seed-358-servers.json")]);
    let dir = tempfile::tempdir().unwrap();
    let out = config_check(&with_local_password_files(&text, dir.path()), "examples/config-docker.yaml");
    assert!(out.contains("seed"), "{out}");
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_health_checked() {
    let root = workspace_root();
    let text = read(&deploy_dir().join("Dockerfile"));
    let instructions = dockerfile_instructions(&text);
    let froms: Vec<usize> =
        instructions.iter().enumerate().filter(|(_, (i, _))| i == "FROM").map(|(at, _)| at).collect();
    assert!(froms.len() >= 2, "not multi-stage: {} FROM", froms.len());
    assert!(instructions[froms[0]].1.starts_with("rust:"), "builder: {}", instructions[froms[0]].1);
    let last = &instructions[*froms.last().unwrap()..];
    let find = |name: &str| -> Vec<&str> { last.iter().filter(|(i, _)| i == name).map(|(_, r)| r.as_str()).collect() };

    let users = find("USER");
    let user = users.last().unwrap_or_else(|| panic!("the runtime stage has no USER"));
    let uid = user.split(':').next().unwrap();
    assert!(!["root", "0"].contains(&uid), "the runtime stage runs as {user}");
    let health = find("HEALTHCHECK");
    assert_eq!(health.len(), 1, "one HEALTHCHECK in the runtime stage");
    assert!(health[0].contains("/health"), "HEALTHCHECK does not hit /health: {}", health[0]);
    assert!(find("EXPOSE").iter().any(|e| e.split_whitespace().any(|p| p == "8080" || p == "8080/tcp")));
    assert_eq!(find("WORKDIR").last().copied(), Some("/app"));
    assert_eq!(find("ENTRYPOINT").last().copied(), Some(r#"["thv-registry-api"]"#));
    let cmd = find("CMD");
    let cmd: Vec<String> = serde_json::from_str(cmd.last().unwrap()).unwrap();
    assert_eq!(cmd[..2], ["serve", "--config"]);
    let default_config = cmd[2].strip_prefix(IMAGE_EXAMPLES).unwrap();
    assert!(root.join("examples").join(default_config).is_file(), "CMD config {} is not in examples/", cmd[2]);
    assert!(
        find("COPY").iter().any(|c| c.starts_with("examples ") && c.ends_with(IMAGE_EXAMPLES.trim_end_matches('/')))
    );

    // The context exclusions BuildKit reads from beside the Dockerfile keep the build output out.
    let ignore = read(&deploy_dir().join("Dockerfile.dockerignore"));
    for excluded in ["target/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == excluded), "Dockerfile.dockerignore does not exclude {excluded}");
    }

    // Every path copied from the build context (the repository root) exists.
    for (ins, rest) in &instructions {
        if ins != "COPY" || rest.starts_with("--from") {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().filter(|p| !p.starts_with("--")).collect();
        for src in &parts[..parts.len() - 1] {
            assert!(root.join(src).exists(), "COPY {src}: not in the repository");
        }
    }
}

#[test]
fn compose_services_are_health_checked_and_ordered() {
    let compose_path = deploy_dir().join("docker-compose.yaml");
    let compose = documents(&compose_path).remove(0);
    let services = compose["services"].as_object().unwrap();
    assert!(services.contains_key("postgres") && services.contains_key("registry-api"), "{:?}", services.keys());
    for (name, service) in services {
        let test = arr_of(&service["healthcheck"]["test"], "healthcheck.test");
        assert!(!test.is_empty() && test[0] != "NONE", "{name} has no healthcheck");
    }
    assert!(str_of(&services["postgres"]["image"], "image").starts_with("postgres:15"));

    let api = &services["registry-api"];
    assert_eq!(api["depends_on"]["postgres"]["condition"], "service_healthy");
    assert_eq!(api["build"]["context"], "..");
    assert_eq!(api["build"]["dockerfile"], "deploy/Dockerfile");

    // The mounted config is examples/config-docker.yaml, where --config points.
    let command: Vec<&str> = arr_of(&api["command"], "command").iter().map(|c| str_of(c, "command")).collect();
    let config_arg = command[command.iter().position(|c| *c == "--config").unwrap() + 1];
    let mounts: Vec<&str> = arr_of(&api["volumes"], "volumes").iter().map(|v| str_of(v, "volume")).collect();
    assert!(
        mounts.iter().any(|m| m.starts_with(&format!("../examples/config-docker.yaml:{config_arg}"))),
        "{config_arg} is not examples/config-docker.yaml: {mounts:?}"
    );

    // Every password file of the config is a secret of the service, backed by a file that has an
    // example in deploy/secrets/.
    let config: Value = serde_norway::from_str(&read(&workspace_root().join("examples/config-docker.yaml"))).unwrap();
    let api_secrets = arr_of(&api["secrets"], "secrets");
    for key in ["passwordFile", "migrationPasswordFile"] {
        let path = str_of(&config["database"][key], key);
        let secret = path.strip_prefix("/run/secrets/").unwrap_or_else(|| panic!("{key} {path} is not a secret"));
        assert!(api_secrets.contains(&Value::from(secret)), "registry-api does not get the secret {secret}");
    }
    for (name, secret) in compose["secrets"].as_object().unwrap() {
        let file = str_of(&secret["file"], "secrets.*.file");
        let example = deploy_dir().join(format!("{file}.example"));
        assert!(example.is_file(), "secret {name}: no {}", example.display());
    }

    // The init script creates the users the config logs in as.
    let init = arr_of(&services["postgres"]["volumes"], "volumes")
        .iter()
        .map(|v| str_of(v, "volume"))
        .find(|v| v.contains("/docker-entrypoint-initdb.d"))
        .unwrap();
    let init_dir = deploy_dir().join(init.split(':').next().unwrap());
    let scripts: String = std::fs::read_dir(&init_dir).unwrap().map(|e| read(&e.unwrap().path())).collect();
    for key in ["user", "migrationUser"] {
        let user = str_of(&config["database"][key], key);
        assert!(scripts.contains(&format!("CREATE ROLE {user} LOGIN")), "the init scripts do not create {user}");
    }
    assert_eq!(
        services["postgres"]["environment"]["POSTGRES_DB"], config["database"]["database"],
        "the database compose creates is the one the config uses"
    );
}
