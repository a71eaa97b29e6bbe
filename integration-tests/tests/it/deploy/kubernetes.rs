//! The Kubernetes manifests of `deploy/kubernetes/`: complete, listed by the kustomization,
//! replicated, probed and locked down, selecting the right pods, and mounting the config and
//! password files where the config points (which `config check` accepts).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{
    NAMESPACE, OPTIONAL_MANIFESTS, arr_of, config_check, configmap_config, container, documents, file_source_paths,
    flag_value, k8s_dir, k8s_objects, key_in_volume, only, selects, str_of, volume_for, with_local_password_files,
    yaml_files,
};

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
