//! The deployment files under `deploy/` against the binary they deploy: Kubernetes
//! manifests and kustomizations, systemd units and environment files, the Grafana
//! provisioning and dashboard, the Prometheus examples and the cluster configs. A typo
//! in a flag, an environment variable, a config key, a metric name or a file reference
//! fails here instead of in a user's cluster.

mod common;
mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use deploy_support::*;
use serde_yaml::Value;

fn overlays() -> Vec<PathBuf> {
    let dir = root().join("deploy/k8s/overlays");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    out.sort();
    assert!(out.len() >= 2, "overlays missing in {}", dir.display());
    out
}

fn workloads(docs: &[Value]) -> impl Iterator<Item = &Value> {
    docs.iter()
        .filter(|d| matches!(kind_name(d).0, "Deployment" | "StatefulSet"))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind_name(d) == (kind, name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn every_manifest_parses_and_every_kustomization_reference_exists() {
    let files = files_under(&root().join("deploy/k8s"), &[".yaml", ".yml"]);
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        for doc in yaml_docs(f) {
            // Kustomize inputs: a kustomization, or an object with kind and name.
            if !f.ends_with("kustomization.yaml") && f.extension().is_some_and(|e| e == "yaml") {
                let (kind, name) = kind_name(&doc);
                let is_config = f.parent().is_some_and(|p| {
                    load_kustomization(p)
                        .config_maps
                        .values()
                        .any(|cm| cm.files.values().any(|g| g == f))
                });
                assert!(
                    is_config || (!kind.is_empty() && !name.is_empty()),
                    "{}: a document without kind and metadata.name",
                    f.display()
                );
            }
        }
    }
    for overlay in overlays() {
        let k = load_kustomization(&overlay);
        assert!(
            k.config_maps.contains_key("cairn-config"),
            "{}: no cairn-config ConfigMap",
            overlay.display()
        );
        assert!(workloads(&k.docs).count() >= 1, "{}", overlay.display());
    }
}

#[test]
fn workloads_are_probed_hardened_and_use_only_real_flags_and_env() {
    let clis = all_role_clis();
    for overlay in overlays() {
        let k = load_kustomization(&overlay);
        let origin = overlay.file_name().unwrap().to_string_lossy().into_owned();
        for w in workloads(&k.docs) {
            let (kind, name) = kind_name(w);
            let origin = format!("{origin}: {kind} {name}");
            let pod = at(w, &["spec", "template", "spec"]);
            assert_eq!(
                at(pod, &["securityContext", "runAsNonRoot"]).as_bool(),
                Some(true),
                "{origin}: runAsNonRoot"
            );
            let mut volumes: BTreeMap<&str, &Value> = seq_at(pod, &["volumes"])
                .iter()
                .map(|v| (str_at(v, &["name"]), v))
                .collect();
            for t in seq_at(w, &["spec", "volumeClaimTemplates"]) {
                volumes.insert(str_at(t, &["metadata", "name"]), t);
            }
            for v in volumes.values() {
                let cm = str_at(v, &["configMap", "name"]);
                assert!(
                    cm.is_empty() || k.config_maps.contains_key(cm),
                    "{origin}: volume from unknown ConfigMap {cm}"
                );
            }
            for c in seq_at(pod, &["containers"]) {
                let origin = format!("{origin}, container {}", str_at(c, &["name"]));
                assert_eq!(str_at(c, &["image"]), "cairn", "{origin}: image");
                assert_eq!(
                    str_at(c, &["readinessProbe", "httpGet", "path"]),
                    "/-/ready",
                    "{origin}"
                );
                assert_eq!(
                    str_at(c, &["livenessProbe", "httpGet", "path"]),
                    "/-/healthy",
                    "{origin}"
                );
                for probe in ["readinessProbe", "livenessProbe"] {
                    let port = str_at(c, &[probe, "httpGet", "port"]);
                    assert!(
                        seq_at(c, &["ports"])
                            .iter()
                            .any(|p| str_at(p, &["name"]) == port),
                        "{origin}: {probe} port {port} is not a container port"
                    );
                }
                for path in [
                    ["requests", "memory"],
                    ["limits", "memory"],
                    ["requests", "cpu"],
                ] {
                    assert!(
                        !at(c, &["resources", path[0], path[1]]).is_null(),
                        "{origin}: resources.{}.{}",
                        path[0],
                        path[1]
                    );
                }
                let sc = at(c, &["securityContext"]);
                assert_eq!(
                    at(sc, &["allowPrivilegeEscalation"]).as_bool(),
                    Some(false),
                    "{origin}"
                );
                assert_eq!(
                    at(sc, &["readOnlyRootFilesystem"]).as_bool(),
                    Some(true),
                    "{origin}"
                );

                let args: Vec<&str> = seq_at(c, &["args"])
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let role = *args.first().unwrap_or(&"");
                assert!(
                    ROLES.contains(&role),
                    "{origin}: first argument {role:?} is not a role"
                );
                for a in &args[1..] {
                    let flag = a
                        .strip_prefix("--")
                        .unwrap_or_else(|| panic!("{origin}: argument {a}"));
                    let (flag, value) = flag.split_once('=').unwrap_or((flag, ""));
                    check_flag(&clis, role, flag, &origin);
                    if flag == "config.file" {
                        // The file must come from a mounted ConfigMap with that key.
                        let path = Path::new(value);
                        let dir = path.parent().unwrap().to_str().unwrap();
                        let key = path.file_name().unwrap().to_str().unwrap();
                        let mount = seq_at(c, &["volumeMounts"])
                            .iter()
                            .find(|m| str_at(m, &["mountPath"]) == dir)
                            .unwrap_or_else(|| panic!("{origin}: nothing mounted at {dir}"));
                        let vol = volumes[str_at(mount, &["name"])];
                        let cm = &k.config_maps[str_at(vol, &["configMap", "name"])];
                        assert!(
                            cm.files.contains_key(key),
                            "{origin}: ConfigMap has no {key}"
                        );
                    }
                }
                for m in seq_at(c, &["volumeMounts"]) {
                    let v = str_at(m, &["name"]);
                    assert!(
                        volumes.contains_key(v),
                        "{origin}: mount of unknown volume {v}"
                    );
                }
                let defined: Vec<&str> = seq_at(c, &["env"])
                    .iter()
                    .map(|e| str_at(e, &["name"]))
                    .collect();
                for e in seq_at(c, &["env"]) {
                    let var = str_at(e, &["name"]);
                    if var.starts_with("CAIRN_") {
                        check_env(&clis, role, var, &origin);
                    }
                    // $(VAR) may only name variables defined before it.
                    let value = str_at(e, &["value"]);
                    for part in value.split("$(").skip(1) {
                        let dep = part.split(')').next().unwrap();
                        let pos = defined.iter().position(|d| *d == var).unwrap();
                        assert!(
                            defined[..pos].contains(&dep),
                            "{origin}: {var} uses $({dep}) before it is defined"
                        );
                    }
                    let cm_ref = at(e, &["valueFrom", "configMapKeyRef"]);
                    if !cm_ref.is_null() {
                        let (cm, key) = (str_at(cm_ref, &["name"]), str_at(cm_ref, &["key"]));
                        let gen = k.config_maps.get(cm).unwrap_or_else(|| {
                            panic!("{origin}: {var} from unknown ConfigMap {cm}")
                        });
                        assert!(
                            gen.env.contains_key(key) || gen.files.contains_key(key),
                            "{origin}: ConfigMap {cm} has no key {key}"
                        );
                    }
                    let secret = at(e, &["valueFrom", "secretKeyRef"]);
                    if !secret.is_null() {
                        // The S3 client reads exactly these from the environment.
                        assert!(
                            [
                                "AWS_ACCESS_KEY_ID",
                                "AWS_SECRET_ACCESS_KEY",
                                "AWS_SESSION_TOKEN"
                            ]
                            .contains(&var),
                            "{origin}: secret in {var}, which cairn does not read"
                        );
                    }
                }
            }
        }
        check_services_and_budgets(&k.docs, &origin);
    }
}

/// Every Service and PodDisruptionBudget selects pods of some workload, every Service
/// port targets a named container port of them, and every StatefulSet is governed by
/// an existing headless Service.
fn check_services_and_budgets(docs: &[Value], origin: &str) {
    let pods: Vec<&Value> = workloads(docs)
        .map(|w| at(w, &["spec", "template"]))
        .collect();
    for d in docs {
        let (kind, name) = kind_name(d);
        let selector = match kind {
            "Service" => at(d, &["spec", "selector"]),
            "PodDisruptionBudget" => at(d, &["spec", "selector", "matchLabels"]),
            _ => continue,
        };
        let selected: Vec<&&Value> = pods
            .iter()
            .filter(|p| selects(selector, at(p, &["metadata", "labels"])))
            .collect();
        assert!(
            !selected.is_empty(),
            "{origin}: {kind} {name} selects no pods"
        );
        for port in seq_at(d, &["spec", "ports"]) {
            let target = str_at(port, &["targetPort"]);
            for p in &selected {
                let named = seq_at(p, &["spec", "containers"])
                    .iter()
                    .flat_map(|c| seq_at(c, &["ports"]))
                    .any(|cp| str_at(cp, &["name"]) == target);
                assert!(
                    named,
                    "{origin}: Service {name} targets port {target:?} that its pods lack"
                );
            }
        }
    }
    for w in workloads(docs) {
        let (kind, name) = kind_name(w);
        let own = at(w, &["spec", "template", "metadata", "labels"]);
        assert!(
            selects(at(w, &["spec", "selector", "matchLabels"]), own),
            "{origin}: {kind} {name} does not select its own pods"
        );
        if kind == "StatefulSet" {
            let svc = find(docs, "Service", str_at(w, &["spec", "serviceName"]));
            assert_eq!(
                str_at(svc, &["spec", "clusterIP"]),
                "None",
                "{origin}: {name}'s service is not headless"
            );
            assert!(
                !seq_at(w, &["spec", "volumeClaimTemplates"]).is_empty(),
                "{origin}: {name} has no PVC"
            );
        }
    }
}

#[test]
fn microservices_overlay_has_replicated_ingesters_and_meta_and_one_compactor() {
    let dir = root().join("deploy/k8s/overlays/microservices");
    let k = load_kustomization(&dir);
    let replicas =
        |kind: &str, name: &str| at(find(&k.docs, kind, name), &["spec", "replicas"]).as_u64();
    assert_eq!(replicas("StatefulSet", "ingester"), Some(3));
    assert_eq!(replicas("StatefulSet", "meta"), Some(3));
    assert_eq!(replicas("Deployment", "receiver"), Some(2));
    assert_eq!(replicas("Deployment", "compactor"), Some(1));
    assert_eq!(
        str_at(
            find(&k.docs, "Deployment", "compactor"),
            &["spec", "strategy", "type"]
        ),
        "Recreate",
        "two compactors must never overlap"
    );
    for sts in ["ingester", "meta"] {
        let labels = at(
            find(&k.docs, "StatefulSet", sts),
            &["spec", "template", "metadata", "labels"],
        );
        let pdb = k
            .docs
            .iter()
            .find(|d| {
                kind_name(d).0 == "PodDisruptionBudget"
                    && selects(at(d, &["spec", "selector", "matchLabels"]), labels)
            })
            .unwrap_or_else(|| panic!("no PodDisruptionBudget for {sts}"));
        assert_eq!(
            at(pdb, &["spec", "maxUnavailable"]).as_u64(),
            Some(1),
            "{sts}: a quorum of 3 survives one"
        );
    }
    // RF=3 over the three ingesters.
    let config: Value =
        serde_yaml::from_str(&read(&k.config_maps["cairn-config"].files["cairn.yaml"])).unwrap();
    assert_eq!(
        at(&config, &["receive", "replication_factor"]).as_u64(),
        Some(3)
    );
    // Meta's node ids are pod ordinals starting at 1, and the peers list names exactly
    // those pods through the headless service.
    let meta = find(&k.docs, "StatefulSet", "meta");
    assert_eq!(at(meta, &["spec", "ordinals", "start"]).as_u64(), Some(1));
    assert_eq!(str_at(meta, &["spec", "serviceName"]), "meta");
    let peers = &k.config_maps["cairn-ring"].env["CAIRN_META_PEERS"];
    let expected: Vec<String> = (1..=3).map(|i| format!("{i}=meta-{i}.meta:9095")).collect();
    assert_eq!(peers.split(',').collect::<Vec<_>>(), expected);
    let endpoints = &k.config_maps["cairn-ring"].env["CAIRN_RING_ENDPOINTS"];
    let expected: Vec<String> = (1..=3).map(|i| format!("meta-{i}.meta:9095")).collect();
    assert_eq!(endpoints.split(',').collect::<Vec<_>>(), expected);
}

#[test]
fn config_maps_hold_configs_that_cairn_accepts() {
    for overlay in overlays() {
        let k = load_kustomization(&overlay);
        for (name, cm) in &k.config_maps {
            for (key, path) in &cm.files {
                if key.ends_with(".yaml") {
                    let (ok, out) = cairn(&["config", "check", path.to_str().unwrap()], &[]);
                    assert!(ok, "{}: ConfigMap {name}/{key}: {out}", overlay.display());
                }
            }
        }
    }
    // The same through kustomize itself, when kubectl is installed: generated names get
    // hash suffixes and every reference must follow them.
    if !have_kubectl() {
        eprintln!("kubectl not installed: kustomize rendering not checked");
        return;
    }
    for overlay in overlays() {
        let out = Command::new("kubectl")
            .args(["kustomize", overlay.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubectl kustomize {}: {}",
            overlay.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let maps: BTreeMap<&str, &Value> = docs
            .iter()
            .filter(|d| kind_name(d).0 == "ConfigMap")
            .map(|d| (kind_name(d).1, at(d, &["data"])))
            .collect();
        for w in workloads(&docs) {
            let pod = at(w, &["spec", "template", "spec"]);
            for v in seq_at(pod, &["volumes"]) {
                let cm = str_at(v, &["configMap", "name"]);
                assert!(
                    cm.is_empty() || maps.contains_key(cm),
                    "rendered volume names missing ConfigMap {cm}"
                );
            }
            for c in seq_at(pod, &["containers"]) {
                assert!(
                    str_at(c, &["image"]).starts_with("cairn"),
                    "{}",
                    str_at(c, &["image"])
                );
                for e in seq_at(c, &["env"]) {
                    let r = at(e, &["valueFrom", "configMapKeyRef"]);
                    if !r.is_null() {
                        let data = maps.get(str_at(r, &["name"])).unwrap_or_else(|| {
                            panic!("rendered env names missing ConfigMap {:?}", r)
                        });
                        assert!(!at(data, &[str_at(r, &["key"])]).is_null(), "{r:?}");
                    }
                }
            }
        }
        let config = maps
            .iter()
            .find(|(n, _)| n.starts_with("cairn-config"))
            .map(|(_, d)| str_at(d, &["cairn.yaml"]))
            .expect("rendered cairn-config");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.yaml");
        std::fs::write(&path, config).unwrap();
        let (ok, out) = cairn(&["config", "check", path.to_str().unwrap()], &[]);
        assert!(ok, "rendered {}: {out}", overlay.display());
    }
}

fn have_kubectl() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Key/value pairs of one section of a systemd unit (repeated keys kept in order).
fn unit_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = s.to_owned();
        } else if current == section {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("bad unit line {line}"));
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[test]
fn systemd_units_run_real_roles_hardened_with_time_to_flush() {
    let clis = all_role_clis();
    let dir = root().join("deploy/systemd");
    let units = [
        ("cairn-all.service", vec!["all"]),
        (
            "cairn@.service",
            ROLES.iter().filter(|r| **r != "all").copied().collect(),
        ),
    ];
    for (unit, roles) in units {
        let text = read(&dir.join(unit));
        let service = unit_section(&text, "Service");
        let get = |k: &str| {
            service
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("User"), ["cairn"], "{unit}");
        assert_eq!(get("Restart"), ["on-failure"], "{unit}");
        assert_eq!(get("KillSignal"), ["SIGTERM"], "{unit}");
        assert_eq!(get("ProtectSystem"), ["strict"], "{unit}");
        assert_eq!(get("NoNewPrivileges"), ["yes"], "{unit}");
        assert!(!get("StateDirectory").is_empty(), "{unit}");
        // Shutdown drains servers for up to 30 s and lets the shipper finish for up to
        // 60 s before the WAL is closed: SIGKILL must not come before.
        let stop: u64 = get("TimeoutStopSec")[0].parse().unwrap();
        assert!(stop >= 120, "{unit}: TimeoutStopSec={stop}");
        let exec = get("ExecStart");
        let words: Vec<&str> = exec[0].split_whitespace().collect();
        assert_eq!(words[0], "/usr/local/bin/cairn", "{unit}");
        for role in &roles {
            let origin = format!("{unit} as {role}");
            let argv: Vec<String> = words[1..].iter().map(|w| w.replace("%i", role)).collect();
            assert_eq!(argv[0], *role, "{origin}");
            for a in &argv[1..] {
                let flag = a.strip_prefix("--").unwrap().split('=').next().unwrap();
                check_flag(&clis, role, flag, &origin);
            }
            for env in get("Environment") {
                let var = env.split('=').next().unwrap();
                check_env(&clis, role, var, &origin);
            }
        }
        for f in get("EnvironmentFile") {
            let name = Path::new(f.trim_start_matches('-'))
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            for role in &roles {
                let name = name.replace("%i", role);
                assert!(
                    dir.join("env").join(&name).is_file(),
                    "{unit}: no example of {name} in deploy/systemd/env"
                );
            }
        }
    }
    if !have("systemd-analyze") {
        eprintln!("systemd-analyze not installed: unit syntax not checked");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (unit, instance) in [
        ("cairn-all.service", "cairn-all.service"),
        ("cairn@.service", "cairn@ingest.service"),
    ] {
        // The binary must exist for verify; the rest of the unit is checked as shipped.
        let text =
            read(&dir.join(unit)).replace("/usr/local/bin/cairn", env!("CARGO_BIN_EXE_cairn"));
        let path = tmp.path().join(instance);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "systemd-analyze verify {unit}: {stderr}"
        );
    }
}

#[test]
fn systemd_env_files_set_only_variables_cairn_reads_with_values_it_accepts() {
    let clis = all_role_clis();
    let dir = root().join("deploy/systemd/env");
    let common = env_file_vars(&read(&dir.join("cairn.env")), false);
    let files = files_under(&dir, &[".env"]);
    assert!(files.len() >= 7, "{files:?}");
    for f in &files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let text = read(f);
        // cairn.env is read by every role.
        let roles: Vec<&str> = if stem == "cairn" {
            ROLES.to_vec()
        } else {
            vec![stem]
        };
        for (var, _) in env_file_vars(&text, true) {
            for role in &roles {
                if var.starts_with("CAIRN_") {
                    check_env(&clis, role, &var, &f.display().to_string());
                } else {
                    assert!(
                        var.starts_with("AWS_"),
                        "{}: {var} is read by nothing",
                        f.display()
                    );
                }
            }
        }
        if stem == "cairn" {
            continue;
        }
        // The role's example config plus both env files, as the unit would combine them.
        let config = root().join(format!("deploy/config/{stem}.yaml"));
        assert!(
            config.is_file(),
            "{}: no deploy/config/{stem}.yaml for the unit to read",
            f.display()
        );
        let mut env = common.clone();
        env.extend(env_file_vars(&text, false));
        let (ok, out) = cairn(
            &["config", "show", "--config.file", config.to_str().unwrap()],
            &env,
        );
        assert!(ok, "{} with {}: {out}", f.display(), config.display());
    }
}

#[test]
fn cluster_example_configs_are_valid() {
    let dir = root().join("deploy/config/cluster");
    let files = files_under(&dir, &[".yaml"]);
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let (ok, out) = cairn(&["config", "check", f.to_str().unwrap()], &[]);
        assert!(ok, "{}: {out}", f.display());
    }
}

#[test]
fn prometheus_examples_are_valid_and_write_to_cairn() {
    let files = files_under(&root().join("deploy/prometheus"), &[".yml", ".yaml"]);
    assert!(files.len() >= 2, "{files:?}");
    let mut ha_pair = false;
    for f in &files {
        let doc = yaml_docs(f).remove(0);
        for rw in seq_at(&doc, &["remote_write"]) {
            assert!(
                str_at(rw, &["url"]).ends_with("/api/v1/write"),
                "{}",
                f.display()
            );
        }
        ha_pair |= str_at(&doc, &["global", "external_labels", "replica"]) == "A";
        // Debian's Prometheus is built without Kubernetes discovery.
        if !have("promtool") || read(f).contains("kubernetes_sd_configs") {
            continue;
        }
        let out = Command::new("promtool")
            .args(["check", "config"])
            .arg(f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool check config {}: {}{}",
            f.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        ha_pair,
        "no HA-pair example with external_labels.replica: A"
    );
}

/// Sample names in the /metrics of `cairn all` and of a `cairn receive` after they
/// have done what the dashboard watches: writes accepted and rejected, a write
/// without a quorum, queries that work and fail, blocks cut, shipped and truncated.
async fn exercised_metric_names(dir: &Path) -> BTreeSet<String> {
    let config = dir.join("cairn.yaml");
    std::fs::write(
        &config,
        "ingest:\n  chunk_range: 1m\n  block_range: 1m\n  block_cut_grace: 0s\n  ship_interval: 200ms\n  head_retention_after_ship: 0s\n",
    )
    .unwrap();
    let all = start_cairn(
        dir,
        &dir.join("all"),
        &["--config.file", config.to_str().unwrap()],
    );
    let start = (now_ms() - 4 * 60_000) / 60_000 * 60_000;
    let mut points: Vec<(i64, f64)> = (0..180).map(|i| (start + i * 1000, i as f64)).collect();
    points.push((now_ms(), 0.0));
    let body = write_body(vec![series(&[("__name__", "up"), ("job", "j")], &points)]);
    let (status, text) = remote_write(&all.url("/api/v1/write"), body, None).await;
    assert_eq!(status, 204, "{text}");
    let old = write_body(vec![series(
        &[("__name__", "up"), ("job", "old")],
        &[(now_ms() - 3 * 86_400_000, 1.0)],
    )]);
    let (status, text) = remote_write(&all.url("/api/v1/write"), old, None).await;
    assert_eq!(status, 400, "{text}");
    for q in ["up", "sum(rate(up[5m]))", "sum(("] {
        let _ = get_json(&all.url("/api/v1/query"), &[("query", q.to_owned())], None).await;
    }
    let end = (now_ms() / 1000).to_string();
    let _ = get_json(
        &all.url("/api/v1/query_range"),
        &[
            ("query", "up".into()),
            ("start", (now_ms() / 1000 - 300).to_string()),
            ("end", end),
            ("step", "15".into()),
        ],
        None,
    )
    .await;

    // A receiver whose only ingester is down.
    let dead = free_port().to_string();
    let recv = start_role(
        "receive",
        dir,
        &dir.join("recv"),
        &["--receive.ingesters", &format!("127.0.0.1:{dead}")],
    );
    let body = write_body(vec![series(&[("__name__", "up")], &[(now_ms(), 1.0)])]);
    let (status, text) = remote_write(&recv.url("/api/v1/write"), body, None).await;
    assert!(status >= 500, "{status} {text}");

    let scrape =
        |url: String| async move { http().get(url).send().await.unwrap().text().await.unwrap() };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut names = loop {
        let names = exposition_names(&scrape(all.url("/metrics")).await);
        let shipped = names.contains("cairn_ingest_block_uploads_total")
            && names.contains("cairn_ingest_head_truncations_total");
        if shipped || Instant::now() > deadline {
            break names;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    names.extend(exposition_names(&scrape(recv.url("/metrics")).await));
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_dashboard_queries_parse_and_read_metrics_cairn_exports() {
    let grafana = root().join("deploy/grafana");
    let ds = yaml_docs(&grafana.join("provisioning/datasources/cairn.yaml")).remove(0);
    let source = &seq_at(&ds, &["datasources"])[0];
    assert_eq!(str_at(source, &["uid"]), "cairn");
    assert_eq!(str_at(source, &["type"]), "prometheus");
    assert!(str_at(source, &["url"]).starts_with("http://"));
    let provider = yaml_docs(&grafana.join("provisioning/dashboards/cairn.yaml")).remove(0);
    let provider = &seq_at(&provider, &["providers"])[0];
    assert_eq!(str_at(provider, &["type"]), "file");
    assert_eq!(
        str_at(provider, &["options", "path"]),
        "/var/lib/grafana/dashboards"
    );

    let mut used: BTreeMap<String, String> = BTreeMap::new();
    let dashboards = files_under(&grafana.join("dashboards"), &[".json"]);
    assert!(!dashboards.is_empty());
    for f in &dashboards {
        let dash: serde_json::Value =
            serde_json::from_str(&read(f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut panels: Vec<&serde_json::Value> = Vec::new();
        for p in dash["panels"].as_array().expect("panels") {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        let mut ids = BTreeSet::new();
        let mut queries = 0;
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(
                ids.insert(p["id"].as_u64().expect("panel id")),
                "{title}: duplicate id"
            );
            let (x, w) = (
                p["gridPos"]["x"].as_u64().unwrap(),
                p["gridPos"]["w"].as_u64().unwrap(),
            );
            assert!(x + w <= 24, "{title}: wider than the dashboard");
            let Some(targets) = p["targets"].as_array() else {
                assert_eq!(p["type"], "row", "{title}: a panel without queries");
                continue;
            };
            assert_eq!(p["datasource"]["uid"], "cairn", "{title}");
            for t in targets {
                assert_eq!(t["datasource"]["uid"], "cairn", "{title}");
                let expr = expand_grafana_macros(t["expr"].as_str().unwrap_or_default());
                assert!(
                    !expr.contains('$'),
                    "{title}: unknown template variable in {expr}"
                );
                let names =
                    promql_metric_names(&expr).unwrap_or_else(|e| panic!("{title}: {expr}: {e}"));
                for n in names {
                    used.insert(n, title.to_owned());
                }
                queries += 1;
            }
        }
        assert!(queries >= 20, "{}: {queries} queries", f.display());
    }

    let dir = tempfile::tempdir().unwrap();
    let exported = exercised_metric_names(dir.path()).await;
    let unknown: Vec<String> = used
        .iter()
        .filter(|(n, _)| !exported.contains(*n))
        .map(|(n, title)| format!("{n} (panel {title:?})"))
        .collect();
    assert!(
        unknown.is_empty(),
        "the dashboard reads metrics cairn does not export: {unknown:?}\nexported: {exported:?}"
    );
}
