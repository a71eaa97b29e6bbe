//! The deployment files (`deploy/`, `examples/config-docker.yaml`) are well-formed, agree with each
//! other (labels, ports, mounts, secrets) and with the binary (`config check` accepts the configs
//! they ship). There is no container engine or cluster here: the files are checked as files.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;
use thv_testkit::{binary, workspace_root};

/// The namespace every namespaced manifest lives in.
const NAMESPACE: &str = "thv-registry";
/// Manifests in `deploy/kubernetes/` that kustomization.yaml deliberately does not list.
const OPTIONAL_MANIFESTS: &[&str] = &["rbac-deployed-servers.yaml"];
/// Where the Dockerfile puts the repository's `examples/` directory.
const IMAGE_EXAMPLES: &str = "/app/examples/";

// ------------------------------------------------------------------------------------------------
// Helpers

/// Every `*.yaml` / `*.yml` under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every document of a (multi-document) YAML text, as JSON values; empty documents are skipped.
fn documents(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .enumerate()
        .map(|(i, doc)| Value::deserialize(doc).unwrap_or_else(|e| panic!("{} document {i}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn deploy_dir() -> PathBuf {
    workspace_root().join("deploy")
}

fn k8s_dir() -> PathBuf {
    deploy_dir().join("kubernetes")
}

/// Every Kubernetes object under `deploy/kubernetes/` (kustomization.yaml excluded), with its file.
fn k8s_objects() -> Vec<(PathBuf, Value)> {
    yaml_files(&k8s_dir())
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .flat_map(|p| documents(&p).into_iter().map(move |d| (p.clone(), d)))
        .collect()
}

/// The one object of `kind`.
fn only(kind: &str) -> Value {
    let found: Vec<Value> = k8s_objects().into_iter().map(|(_, d)| d).filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected exactly one {kind} in deploy/kubernetes");
    found.into_iter().next().unwrap()
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v}"))
}

fn arr_of<'a>(v: &'a Value, what: &str) -> &'a Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("{what} is not a list: {v}"))
}

/// The one container of a pod spec.
fn container(pod: &Value) -> &Value {
    let containers = arr_of(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1, "one container expected: {pod}");
    &containers[0]
}

/// The value following `flag` in a container's `args` (or `command`).
fn flag_value<'a>(container: &'a Value, flag: &str) -> &'a str {
    let args = arr_of(&container["args"], "args");
    let at = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    str_of(&args[at + 1], flag)
}

/// Every `selector` label has the same value in `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().unwrap();
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The volume mounted at the directory holding `file` (or at `file` itself, with `subPath`), and
/// the name of the file inside that volume.
fn volume_for<'a>(pod: &'a Value, file: &str) -> (&'a Value, String) {
    let file = Path::new(file);
    for mount in arr_of(&container(pod)["volumeMounts"], "volumeMounts") {
        let mount_path = Path::new(str_of(&mount["mountPath"], "mountPath"));
        let in_volume = match mount["subPath"].as_str() {
            Some(sub) if mount_path == file => sub.to_owned(),
            None if file.parent() == Some(mount_path) => file.file_name().unwrap().to_string_lossy().into_owned(),
            _ => continue,
        };
        let name = &mount["name"];
        let volume = arr_of(&pod["volumes"], "volumes")
            .iter()
            .find(|v| &v["name"] == name)
            .unwrap_or_else(|| panic!("volumeMount {name} has no volume"));
        return (volume, in_volume);
    }
    panic!("no volume is mounted for {}", file.display());
}

/// The key of a configMap/secret volume that appears as `file_in_volume`.
fn key_in_volume(source: &Value, file_in_volume: &str) -> String {
    match source["items"].as_array() {
        Some(items) => {
            let item = items
                .iter()
                .find(|i| i["path"] == file_in_volume)
                .unwrap_or_else(|| panic!("no item of {source} is projected as {file_in_volume}"));
            str_of(&item["key"], "items[].key").to_owned()
        }
        None => file_in_volume.to_owned(),
    }
}

/// The `ConfigMap`'s embedded server configuration, as text.
fn configmap_config() -> String {
    str_of(&only("ConfigMap")["data"]["config.yaml"], "ConfigMap data.\"config.yaml\"").to_owned()
}

/// A copy of `config` in `dir` whose password files point at files created in `dir`.
///
/// The configs name password files that exist only in a container (`/run/secrets/…`,
/// `/var/run/secrets/thv-registry/…`), and `config check` reads them at load, like `serve` does.
/// Setting `THV_DATABASE_PASSWORD` would not help: a named `passwordFile` wins over the
/// environment and must be readable. So the paths are rewritten in the temporary copy; nothing
/// else changes.
fn with_local_password_files(config: &str, dir: &Path) -> PathBuf {
    let mut value: Value = serde_norway::from_str(config).unwrap();
    if let Some(db) = value.get_mut("database").and_then(Value::as_object_mut) {
        for key in ["passwordFile", "migrationPasswordFile"] {
            if db.contains_key(key) {
                let file = dir.join(key);
                std::fs::write(&file, "test-password\n").unwrap();
                db.insert(key.to_owned(), Value::String(file.to_string_lossy().into_owned()));
            }
        }
    }
    let path = dir.join("config.yaml");
    std::fs::write(&path, serde_norway::to_string(&value).unwrap()).unwrap();
    path
}

/// Runs `thv-registry-api config check --config <config>` in the workspace root, without any
/// `THV_*` variable of the test environment; panics with the output unless it succeeds.
fn config_check(config: &Path, what: &str) -> String {
    let bin = binary().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["config", "check", "--config"]).arg(config).current_dir(workspace_root());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("THV_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`config check` rejects {what} ({}):\n{stdout}\n{stderr}", out.status);
    stdout
}

/// The local paths of the file sources of a config, mapped from the image to the repository
/// (`/app/examples/x` → `<root>/examples/x`).
fn file_source_paths(config: &Value) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for list in ["sources", "registries"] {
        if let Some(items) = config[list].as_array() {
            sources.extend(items.iter().filter_map(|s| s["file"]["path"].as_str()));
        }
    }
    if let Some(p) = config["source"]["file"]["path"].as_str() {
        sources.push(p);
    }
    sources
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(IMAGE_EXAMPLES).unwrap_or_else(|| panic!("{p} is not under {IMAGE_EXAMPLES}"));
            workspace_root().join("examples").join(rel)
        })
        .collect()
}

/// Dockerfile instructions: continuation lines joined, comments dropped, as (INSTRUCTION, rest).
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = trimmed.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            let (ins, rest) = current.trim().split_once(char::is_whitespace).unwrap_or((current.trim(), ""));
            out.push((ins.to_ascii_uppercase(), rest.trim().to_owned()));
            current.clear();
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Every YAML file

#[test]
fn every_yaml_file_under_deploy_and_examples_parses() {
    let root = workspace_root();
    let mut files = yaml_files(&root.join("deploy"));
    files.extend(yaml_files(&root.join("examples")));
    for required in
        ["deploy/docker-compose.yaml", "deploy/kubernetes/kustomization.yaml", "examples/config-docker.yaml"]
    {
        assert!(files.contains(&root.join(required)), "{required} is missing");
    }
    let mut problems = Vec::new();
    let mut count = 0;
    for file in &files {
        let text = read(file);
        for (i, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
            count += 1;
            if let Err(e) = serde_norway::Value::deserialize(doc) {
                problems.push(format!("{} document {i}: {e}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "YAML that does not parse:\n{}", problems.join("\n"));
    assert!(count >= files.len(), "{count} documents in {} files", files.len());
}

// ------------------------------------------------------------------------------------------------
// Kubernetes

#[test]
fn every_manifest_has_api_version_kind_name_and_namespace() {
    let objects = k8s_objects();
    assert!(objects.len() >= 8, "only {} objects in deploy/kubernetes", objects.len());
    for (file, obj) in &objects {
        let at = file.display();
        for key in ["apiVersion", "kind"] {
            assert!(obj[key].as_str().is_some_and(|s| !s.is_empty()), "{at}: no {key}: {obj}");
        }
        assert!(obj["metadata"]["name"].as_str().is_some_and(|s| !s.is_empty()), "{at}: no metadata.name");
        if obj["kind"] == "Namespace" {
            assert_eq!(obj["metadata"]["name"], NAMESPACE, "{at}");
        } else {
            assert_eq!(obj["metadata"]["namespace"], NAMESPACE, "{at}: {} not in {NAMESPACE}", obj["kind"]);
        }
    }
    let kinds: BTreeSet<&str> = objects.iter().map(|(_, o)| str_of(&o["kind"], "kind")).collect();
    for kind in
        ["Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment", "Service", "Job", "PodDisruptionBudget"]
    {
        assert!(kinds.contains(kind), "no {kind} in deploy/kubernetes (have {kinds:?})");
    }
}

#[test]
fn kustomization_lists_every_manifest() {
    let kustomization = documents(&k8s_dir().join("kustomization.yaml")).remove(0);
    assert_eq!(kustomization["kind"], "Kustomization");
    assert_eq!(kustomization["namespace"], NAMESPACE);
    let listed: BTreeSet<String> =
        arr_of(&kustomization["resources"], "resources").iter().map(|r| str_of(r, "resources[]").to_owned()).collect();
    for file in &listed {
        assert!(k8s_dir().join(file).is_file(), "kustomization.yaml lists {file}, which does not exist");
    }
    for file in yaml_files(&k8s_dir()) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" || OPTIONAL_MANIFESTS.contains(&name.as_str()) {
            continue;
        }
        assert!(listed.contains(&name), "kustomization.yaml does not list {name}");
    }
    // The image the manifests name is the one kustomization.yaml rewrites.
    let images = arr_of(&kustomization["images"], "images");
    let deployment = only("Deployment");
    let image = str_of(&container(&deployment["spec"]["template"]["spec"])["image"], "image");
    let image_name = image.split(':').next().unwrap();
    assert!(images.iter().any(|i| i["name"] == image_name), "kustomization images do not cover {image}");
}

#[test]
fn deployment_is_replicated_probed_and_locked_down() {
    let deployment = only("Deployment");
    let spec = &deployment["spec"];
    let replicas = spec["replicas"].as_u64().unwrap();
    assert!(replicas >= 2, "replicas: {replicas}");
    assert!(selects(&spec["selector"]["matchLabels"], &spec["template"]["metadata"]["labels"]));

    let pod = &spec["template"]["spec"];
    let c = container(pod);
    assert_eq!(c["args"][0], "serve");
    let ports = arr_of(&c["ports"], "ports");
    let http = ports.iter().find(|p| p["containerPort"] == 8080).unwrap_or_else(|| panic!("no port 8080: {ports:?}"));
    assert_eq!(flag_value(c, "--address"), ":8080", "the server listens on the container port");

    // Probes: /health (startup, liveness) and /readiness, on the container port (by number or name).
    for (probe, path) in [("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/readiness")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert!(get["port"] == http["containerPort"] || get["port"] == http["name"], "{probe} port: {}", get["port"]);
    }

    // Non-root, read-only root file system, no capabilities.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(pod["securityContext"]["runAsUser"].as_u64().is_some_and(|u| u != 0));
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert!(arr_of(&sc["capabilities"]["drop"], "capabilities.drop").contains(&Value::from("ALL")));
    // dataDir (git checkouts) must stay writable: an emptyDir.
    let data_mount = arr_of(&c["volumeMounts"], "volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == "/app/data")
        .unwrap_or_else(|| panic!("nothing is mounted at /app/data"));
    let data = arr_of(&pod["volumes"], "volumes").iter().find(|v| v["name"] == data_mount["name"]).unwrap();
    assert!(data["emptyDir"].is_object(), "/app/data (dataDir) is not an emptyDir: {data}");

    // Kubernetes' THV_REGISTRY_*_SERVICE_* variables would be read as (unknown) config keys.
    assert_eq!(pod["enableServiceLinks"], false, "enableServiceLinks must be false");
    assert!(pod["terminationGracePeriodSeconds"].as_u64().is_some_and(|s| s > 0));
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(!c["resources"][kind][res].is_null(), "no resources.{kind}.{res}");
        }
    }
    let anti = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    let term = &arr_of(anti, "podAntiAffinity")[0]["podAffinityTerm"];
    assert!(selects(&term["labelSelector"]["matchLabels"], &spec["template"]["metadata"]["labels"]));
    for constraint in arr_of(&pod["topologySpreadConstraints"], "topologySpreadConstraints") {
        assert!(selects(&constraint["labelSelector"]["matchLabels"], &spec["template"]["metadata"]["labels"]));
    }
}

#[test]
fn service_and_budget_select_the_server_pods_only() {
    let deployment = only("Deployment");
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let pod = &deployment["spec"]["template"]["spec"];

    let service = only("Service");
    assert!(selects(&service["spec"]["selector"], labels), "the Service does not select the Deployment's pods");
    let port = &arr_of(&service["spec"]["ports"], "Service ports")[0];
    let named: Vec<&Value> = arr_of(&container(pod)["ports"], "ports")
        .iter()
        .filter(|p| p["name"] == port["targetPort"] || p["containerPort"] == port["targetPort"])
        .collect();
    assert_eq!(named.len(), 1, "Service targetPort {} is not a container port", port["targetPort"]);

    let pdb = only("PodDisruptionBudget");
    assert!(selects(&pdb["spec"]["selector"]["matchLabels"], labels), "the PDB does not select the pods");
    let keeps_two = pdb["spec"]["minAvailable"].as_u64().is_some_and(|n| n >= 2);
    let loses_one = pdb["spec"]["maxUnavailable"] == 1;
    assert!(keeps_two || loses_one, "PDB: {}", pdb["spec"]);

    // The migration Job's pod must not receive traffic nor count in the budget.
    let job = only("Job");
    let job_labels = &job["spec"]["template"]["metadata"]["labels"];
    assert!(!selects(&service["spec"]["selector"], job_labels), "the Service selects the migrate Job's pod");
    assert!(!selects(&pdb["spec"]["selector"]["matchLabels"], job_labels), "the PDB selects the migrate Job's pod");
}

#[test]
fn migrate_job_runs_migrate_up_with_the_same_config() {
    let job = only("Job");
    let pod = &job["spec"]["template"]["spec"];
    let c = container(pod);
    let args: Vec<&str> = arr_of(&c["args"], "args").iter().map(|a| str_of(a, "arg")).collect();
    assert_eq!(&args[..2], ["migrate", "up"]);
    assert!(args.contains(&"--yes"), "{args:?}");
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(pod["enableServiceLinks"], false, "enableServiceLinks must be false");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let server = container(&only("Deployment")["spec"]["template"]["spec"]).clone();
    assert_eq!(c["image"], server["image"], "the Job migrates with the server's image");
    assert_eq!(flag_value(c, "--config"), flag_value(&server, "--config"));
}

/// For the `Deployment` and the `Job`: the `ConfigMap` is mounted where `--config` points, and every
/// password file the config names is a key of the mounted Secret.
#[test]
fn config_and_password_files_are_mounted_where_the_config_points() {
    let configmap = only("ConfigMap");
    let secret = only("Secret");
    let config: Value = serde_norway::from_str(&configmap_config()).unwrap();
    for kind in ["Deployment", "Job"] {
        let pod = &only(kind)["spec"]["template"]["spec"];
        let config_arg = flag_value(container(pod), "--config");
        let (volume, file) = volume_for(pod, config_arg);
        let source = &volume["configMap"];
        assert_eq!(source["name"], configmap["metadata"]["name"], "{kind}: {config_arg} is not the ConfigMap");
        assert_eq!(key_in_volume(source, &file), "config.yaml", "{kind}: {config_arg} is not data.\"config.yaml\"");

        for key in ["passwordFile", "migrationPasswordFile"] {
            let path = str_of(&config["database"][key], key);
            let (volume, file) = volume_for(pod, path);
            let source = &volume["secret"];
            assert_eq!(source["secretName"], secret["metadata"]["name"], "{kind}: {path} is not the Secret");
            let secret_key = key_in_volume(source, &file);
            let present = !secret["stringData"][&secret_key].is_null() || !secret["data"][&secret_key].is_null();
            assert!(present, "{kind}: the Secret has no key {secret_key} (for {key})");
        }
    }
}

#[test]
fn configmap_config_passes_config_check() {
    let text = configmap_config();
    let config: Value = serde_norway::from_str(&text).unwrap();
    assert!(config["database"].is_object(), "the Kubernetes config is database-backed");
    assert_eq!(config["database"]["sslMode"], "verify-full", "production connections verify the certificate");
    assert!(config["database"]["migrationUser"].is_string() && config["database"]["user"].is_string());
    assert_ne!(config["database"]["migrationUser"], config["database"]["user"]);
    for path in file_source_paths(&config) {
        assert!(path.is_file(), "the image would not contain {}", path.display());
    }
    let dir = tempfile::tempdir().unwrap();
    let out = config_check(&with_local_password_files(&text, dir.path()), "the ConfigMap's config.yaml");
    assert!(out.contains("seed"), "{out}");
}

// ------------------------------------------------------------------------------------------------
// Docker

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
