//! The deployment files (`deploy/`, `examples/config-docker.yaml`) are well-formed, agree with each
//! other (labels, ports, mounts, secrets) and with the binary (`config check` accepts the configs
//! they ship). There is no container engine or cluster here: the files are checked as files.

#![expect(clippy::unwrap_used, reason = "test helpers fail the test on purpose")]

mod docker;
mod kubernetes;

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
