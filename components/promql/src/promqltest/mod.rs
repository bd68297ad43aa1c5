//! A conformance runner for Prometheus's PromQL test scripts (`promqltest`, the
//! `*.test` files of `promql/promqltest/testdata`).
//!
//! ```text
//!  script text ──parse──▶ load / clear / eval commands
//!      load  ─▶ InMemoryStorage (floats; histogram, @st and NHCB series noted)
//!      eval  ─▶ Engine (lookback 5m, 10,000 samples, 100 s)
//!               instant: the query, re-runs with `@ <t>` at other times, and the
//!                        same query as a range query around t
//!               range:   the range query
//!            ─▶ compare (1e-6 relative, NaN == NaN, set unless ordered),
//!               annotations, expected failures
//!      └──▶ FileReport: one Outcome per eval (passed / failed: why / skipped: why)
//! ```
//!
//! Evals that need what Cairn does not store (native histograms, start timestamps,
//! `load_with_nhcb` conversions) or that the parser cannot parse are skipped with the
//! reason; everything else passes or fails.
//!
//! ```no_run
//! use cairn_promql::promqltest::{run_file, Report, RunOptions};
//!
//! let file = run_file("upstream/functions.test".as_ref(), &RunOptions::default());
//! let report = Report { files: vec![file] };
//! eprint!("{report}"); // failures, then "N passed, M failed, K skipped"
//! ```

mod nhcb;
mod run;
mod script;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::EngineOptions;

/// How to run scripts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Engine settings; the default matches upstream's test engine.
    pub engine: EngineOptions,
    /// Re-run every instant eval with `@ <eval time>` added at other times (upstream does).
    pub at_modifier_reruns: bool,
    /// Also run every instant eval as a range query around its time and compare the
    /// point at that time (upstream does).
    pub range_mode_check: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions {
                lookback_delta: Duration::from_secs(5 * 60),
                max_samples: 10_000,
                timeout: Duration::from_secs(100),
                max_concurrent: 1,
                no_step_subquery_interval: Duration::from_secs(60),
            },
            at_modifier_reruns: true,
            range_mode_check: true,
        }
    }
}

/// What happened to one eval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The engine's answer matched.
    Passed,
    /// It did not: what was expected and what came back.
    Failed(String),
    /// Not run, and why.
    Skipped(String),
}

/// One eval command of a script and its outcome.
#[derive(Debug, Clone)]
pub struct EvalOutcome {
    /// 1-based line of the `eval` command.
    pub line: usize,
    /// The PromQL expression.
    pub query: String,
    /// The outcome.
    pub outcome: Outcome,
}

/// The outcomes of one script.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    /// The file's name (without directories).
    pub file: String,
    /// Every eval in file order.
    pub evals: Vec<EvalOutcome>,
    /// Lines the runner could not understand (not evals; such scripts are broken).
    pub errors: Vec<String>,
}

impl FileReport {
    fn push(&mut self, e: EvalOutcome) {
        self.evals.push(e);
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.evals.iter().filter(|e| f(&e.outcome)).count()
    }

    /// Number of evals that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Passed))
    }

    /// Number of evals that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Failed(_)))
    }

    /// Number of evals skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skipped(_)))
    }

    /// Skipped evals grouped by reason, most frequent first.
    pub fn skip_reasons(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        for e in &self.evals {
            if let Outcome::Skipped(r) = &e.outcome {
                match out.iter_mut().find(|(x, _)| x == r) {
                    Some(x) => x.1 += 1,
                    None => out.push((r.clone(), 1)),
                }
            }
        }
        out.sort_by_key(|x| std::cmp::Reverse(x.1));
        out
    }
}

/// The outcomes of several scripts. `Display` prints one line per failing eval,
/// `file:line: <query>: <why>`, script errors, and a last line
/// `N passed, M failed, K skipped`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One report per script.
    pub files: Vec<FileReport>,
}

impl Report {
    /// Evals passed in all files.
    pub fn passed(&self) -> usize {
        self.files.iter().map(FileReport::passed).sum()
    }

    /// Evals failed in all files, plus script errors.
    pub fn failed(&self) -> usize {
        self.files.iter().map(|f| f.failed() + f.errors.len()).sum()
    }

    /// Evals skipped in all files.
    pub fn skipped(&self) -> usize {
        self.files.iter().map(FileReport::skipped).sum()
    }

    /// One line per skipped eval, `file:line: <query>: skipped: <reason>`.
    pub fn skips(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            for e in &f.evals {
                if let Outcome::Skipped(r) = &e.outcome {
                    s.push_str(&format!(
                        "{}:{}: {}: skipped: {r}\n",
                        f.file, e.line, e.query
                    ));
                }
            }
        }
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for file in &self.files {
            for e in &file.errors {
                writeln!(f, "{}: {e}", file.file)?;
            }
            for e in &file.evals {
                if let Outcome::Failed(why) = &e.outcome {
                    writeln!(f, "{}:{}: {}: {why}", file.file, e.line, e.query)?;
                }
            }
        }
        writeln!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        )
    }
}

/// Runs a script given as text; `name` labels the report.
pub async fn run_script(name: &str, text: &str, opts: &RunOptions) -> FileReport {
    let parsed = script::parse_script(text);
    let mut report = FileReport {
        file: name.to_string(),
        evals: Vec::new(),
        errors: parsed.errors,
    };
    run::Runner::new(opts)
        .run(parsed.commands, &mut report)
        .await;
    report
}

/// Reads and runs one script file on a runtime of its own (call it outside async code;
/// use [`run_script`] inside). An unreadable file is reported as a script error.
pub fn run_file(path: &Path, opts: &RunOptions) -> FileReport {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return FileReport {
                file: name,
                evals: Vec::new(),
                errors: vec![format!("cannot read {}: {e}", path.display())],
            }
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return FileReport {
                file: name,
                evals: Vec::new(),
                errors: vec![format!("cannot start a runtime: {e}")],
            }
        }
    };
    rt.block_on(run_script(&name, &text, opts))
}
