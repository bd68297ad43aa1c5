//! Runs Prometheus's own PromQL test scripts (v3.14.0, in
//! `/work/shared/promql-testdata/upstream`, or `$PROMQL_TESTDATA`) and holds the engine to
//! a per-file floor of passing evals for the stable files: a ratchet. When a fix makes
//! more evals pass, raise the floor here (the test prints the table); a regression makes
//! this test fail.
//!
//! `PROMQLTEST_VERBOSE=1` also prints every failure.

use std::path::PathBuf;

use cairn_promql::promqltest::{run_file, Report, RunOptions};

/// Stable files and the least number of evals that must pass in each.
const STABLE_FLOORS: &[(&str, usize)] = &[
    ("aggregators.test", 160),
    ("at_modifier.test", 71),
    ("collision.test", 2),
    ("functions.test", 431),
    ("histograms.test", 185),
    ("limit.test", 37),
    ("literals.test", 25),
    ("name_label_dropping.test", 30),
    ("operators.test", 213),
    ("selectors.test", 31),
    ("trig_functions.test", 19),
    // Not stable upstream, but ratcheted all the same.
    ("duration_expression.test", 8),
    ("extended_vectors.test", 34),
    ("fill-modifier.test", 46),
    ("native_histograms.test", 403),
    ("type_and_unit.test", 43),
];

fn testdata() -> PathBuf {
    std::env::var_os("PROMQL_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/promql-testdata/upstream"))
}

#[test]
fn upstream_conformance_floors() {
    let dir = testdata();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {} (set PROMQL_TESTDATA): {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    paths.sort();
    let opts = RunOptions::default();
    let report = Report {
        files: paths.iter().map(|p| run_file(p, &opts)).collect(),
    };
    let mut below = Vec::new();
    // A markdown table, as in docs/promql-conformance.md.
    eprintln!("| file | passed | failed | skipped | floor |");
    eprintln!("| --- | ---: | ---: | ---: | ---: |");
    for f in &report.files {
        let floor = STABLE_FLOORS
            .iter()
            .find(|(n, _)| *n == f.file)
            .map(|x| x.1);
        eprintln!(
            "| {} | {} | {} | {} | {} |",
            f.file,
            f.passed(),
            f.failed(),
            f.skipped(),
            floor.map_or("-".to_string(), |x| x.to_string())
        );
        if floor.is_some_and(|floor| f.passed() < floor) {
            below.push(format!(
                "{}: {} passed < floor {}",
                f.file,
                f.passed(),
                floor.unwrap_or(0)
            ));
        }
    }
    for (name, _) in STABLE_FLOORS {
        assert!(
            report.files.iter().any(|f| f.file == *name),
            "stable file {name} missing from {}",
            dir.display()
        );
    }
    if std::env::var_os("PROMQLTEST_VERBOSE").is_some() {
        eprint!("{report}");
    } else {
        eprintln!(
            "{} passed, {} failed, {} skipped",
            report.passed(),
            report.failed(),
            report.skipped()
        );
    }
    assert!(
        below.is_empty(),
        "conformance regressed:\n{}",
        below.join("\n")
    );
}
