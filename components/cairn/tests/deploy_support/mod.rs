//! Readers for the deployment files under `deploy/` and for what the `cairn` binary
//! accepts (subcommands, flags, environment variables, metric names), shared by
//! `deploy_files.rs`.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` (recursively) whose name ends with one of `suffixes`, sorted.
pub fn files_under(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if suffixes.iter().any(|s| p.to_string_lossy().ends_with(s)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every document of a (multi-document) YAML file; empty documents are skipped.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = read(path);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// `v[a][b]...`, or Null.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    static NULL: Value = Value::Null;
    path.iter().fold(v, |v, k| v.get(*k).unwrap_or(&NULL))
}

pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

pub fn seq_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

/// What `cairn <role> --help` documents.
#[derive(Debug, Default)]
pub struct RoleCli {
    pub flags: BTreeSet<String>,
    pub env: BTreeSet<String>,
}

/// Flags (without `--`) and `CAIRN_*` variables of `cairn <role>`, or None when the
/// binary has no such subcommand.
pub fn role_cli(role: &str) -> Option<RoleCli> {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([role, "--help"])
        .env_clear()
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    // clap wraps long lines, sometimes inside `[env: ...]`: join the words first.
    let text = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut cli = RoleCli::default();
    for (i, w) in words.iter().enumerate() {
        if let Some(flag) = w.strip_prefix("--") {
            let name: String = flag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            if !name.is_empty() {
                cli.flags.insert(name);
            }
        }
        if *w == "[env:" {
            if let Some(var) = words.get(i + 1).and_then(|n| n.split('=').next()) {
                cli.env.insert(var.to_owned());
            }
        }
    }
    assert!(
        cli.flags.contains("help"),
        "unexpected help text of {role}: {text}"
    );
    Some(cli)
}

/// The roles a deployment file may start (every `cairn` subcommand that runs a role).
pub const ROLES: &[&str] = &[
    "all", "receive", "ingest", "query", "store", "compact", "meta",
];

/// `role_cli` for every role; each must exist.
pub fn all_role_clis() -> BTreeMap<String, RoleCli> {
    ROLES
        .iter()
        .map(|role| {
            let cli = role_cli(role).unwrap_or_else(|| panic!("`cairn {role}` is missing"));
            ((*role).to_owned(), cli)
        })
        .collect()
}

/// Checks that `role` exists and knows `flag` (without `--`).
pub fn check_flag(clis: &BTreeMap<String, RoleCli>, role: &str, flag: &str, origin: &str) {
    let cli = clis
        .get(role)
        .unwrap_or_else(|| panic!("{origin}: `cairn {role}` is not a role"));
    assert!(
        cli.flags.contains(flag),
        "{origin}: `cairn {role}` has no flag --{flag}"
    );
}

/// Checks that `role` reads the environment variable `var`.
pub fn check_env(clis: &BTreeMap<String, RoleCli>, role: &str, var: &str, origin: &str) {
    let cli = clis
        .get(role)
        .unwrap_or_else(|| panic!("{origin}: `cairn {role}` is not a role"));
    assert!(
        cli.env.contains(var),
        "{origin}: `cairn {role}` does not read {var}"
    );
}

/// Runs the binary; returns success and stdout+stderr.
pub fn cairn(args: &[&str], env: &[(String, String)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Whether `program` can be run (found on PATH).
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `VAR=value` lines of an environment file; `commented` also returns those behind
/// `# ` (examples the reader is invited to uncomment).
pub fn env_file_vars(text: &str, commented: bool) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = match l.strip_prefix('#') {
                Some(rest) if commented => rest.trim(),
                Some(_) => return None,
                None => l,
            };
            let (k, v) = l.split_once('=')?;
            let ok = !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            ok.then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Sample names in an OpenMetrics/Prometheus text exposition.
pub fn exposition_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// A kustomization directory: its own file and every resource document it pulls in
/// (following bases), before any transformation.
#[derive(Debug, Default)]
pub struct Kustomization {
    pub docs: Vec<Value>,
    /// ConfigMap generators: name → files (`key` → path) and env files' variables.
    pub config_maps: BTreeMap<String, GeneratedConfigMap>,
}

#[derive(Debug, Default)]
pub struct GeneratedConfigMap {
    pub files: BTreeMap<String, PathBuf>,
    pub env: BTreeMap<String, String>,
}

/// Loads `dir/kustomization.yaml`, asserting that every file it names exists.
pub fn load_kustomization(dir: &Path) -> Kustomization {
    let kpath = dir.join("kustomization.yaml");
    assert!(kpath.is_file(), "{} is missing", kpath.display());
    let k = yaml_docs(&kpath).remove(0);
    let mut out = Kustomization::default();
    for r in seq_at(&k, &["resources"]) {
        let rel = r.as_str().expect("resource entries are paths");
        let p = dir.join(rel);
        if p.is_dir() {
            let base = load_kustomization(&p);
            out.docs.extend(base.docs);
            out.config_maps.extend(base.config_maps);
        } else {
            assert!(
                p.is_file(),
                "{}: resource {rel} does not exist",
                kpath.display()
            );
            out.docs.extend(yaml_docs(&p));
        }
    }
    for p in seq_at(&k, &["patches"]) {
        if let Some(rel) = p.get("path").and_then(Value::as_str) {
            assert!(
                dir.join(rel).is_file(),
                "{}: patch {rel} does not exist",
                kpath.display()
            );
        }
    }
    for g in seq_at(&k, &["configMapGenerator"]) {
        let name = str_at(g, &["name"]).to_owned();
        assert!(
            !name.is_empty(),
            "{}: generator without a name",
            kpath.display()
        );
        let cm = out.config_maps.entry(name).or_default();
        if str_at(g, &["behavior"]) == "replace" {
            *cm = GeneratedConfigMap::default();
        }
        for f in seq_at(g, &["files"]) {
            let spec = f.as_str().unwrap();
            let (key, rel) = spec
                .split_once('=')
                .unwrap_or_else(|| (Path::new(spec).file_name().unwrap().to_str().unwrap(), spec));
            let p = dir.join(rel);
            assert!(
                p.is_file(),
                "{}: generator file {rel} does not exist",
                kpath.display()
            );
            cm.files.insert(key.to_owned(), p);
        }
        for e in seq_at(g, &["envs"]) {
            let rel = e.as_str().unwrap();
            let p = dir.join(rel);
            assert!(
                p.is_file(),
                "{}: env file {rel} does not exist",
                kpath.display()
            );
            cm.env.extend(env_file_vars(&read(&p), false));
        }
    }
    out
}

/// `(kind, name)` of a Kubernetes object.
pub fn kind_name(doc: &Value) -> (&str, &str) {
    (str_at(doc, &["kind"]), str_at(doc, &["metadata", "name"]))
}

/// Whether `selector` (a label map) selects pods labelled `labels`.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(sel) = selector.as_mapping() else {
        return false;
    };
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A Grafana/PromQL expression with Grafana's interval macros replaced by a duration,
/// so it parses as plain PromQL.
pub fn expand_grafana_macros(expr: &str) -> String {
    ["$__rate_interval", "$__interval", "$__range"]
        .iter()
        .fold(expr.to_owned(), |e, m| e.replace(m, "1m"))
}

/// Metric names selected anywhere in a PromQL expression; an error names a selector
/// without a metric name (a dashboard query should say what it reads).
pub fn promql_metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    use promql_parser::label::{MatchOp, METRIC_NAME};
    use promql_parser::parser::{Expr, VectorSelector};
    use promql_parser::util::{walk_expr, ExprVisitor};

    struct Names(BTreeSet<String>);
    impl Names {
        fn add(&mut self, vs: &VectorSelector) -> Result<(), String> {
            let from_matcher = vs
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone());
            match vs.name.clone().or(from_matcher) {
                Some(n) => {
                    self.0.insert(n);
                    Ok(())
                }
                None => Err(format!("selector without a metric name: {vs}")),
            }
        }
    }
    impl ExprVisitor for Names {
        type Error = String;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
            match e {
                Expr::VectorSelector(vs) => self.add(vs)?,
                Expr::MatrixSelector(ms) => self.add(&ms.vs)?,
                _ => {}
            }
            Ok(true)
        }
    }
    let parsed = promql_parser::parser::parse(expr)?;
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &parsed)?;
    Ok(names.0)
}
