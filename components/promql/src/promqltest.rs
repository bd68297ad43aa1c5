//! A rough runner for Prometheus's promqltest files, used to spot-check the engine
//! against upstream expectations (`cargo test -p cairn-promql upstream -- --ignored
//! --nocapture`). Unsupported features (native histograms, ...) are counted as skipped.

use cairn_model::{Labels, Sample, STALE_NAN};

use crate::{Engine, EngineOptions, InMemoryStorage, QueryOptions, Value};

fn parse_dur(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<f64>() {
        return Some((n * 1000.0) as i64);
    }
    let mut total = 0i64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
    }
    num.is_empty().then_some(total)
}

fn parse_value(tok: &str) -> Option<f64> {
    match tok {
        "stale" => Some(STALE_NAN),
        "NaN" => Some(f64::NAN),
        "Inf" | "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        x => x.parse().ok(),
    }
}

/// Expands series values into optional values, one per interval.
fn expand(values: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for tok in values.split_whitespace() {
        if let Some((base, rest)) = tok.rsplit_once('x').filter(|(b, r)| {
            !b.is_empty() && r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty()
        }) {
            let n: usize = rest.parse().ok()?;
            if base == "_" {
                out.extend(std::iter::repeat_n(None, n));
                continue;
            }
            let split = base[1..].find(['+', '-']).map(|i| i + 1);
            let (start, step) = match split {
                Some(i) => (parse_value(&base[..i])?, parse_value(&base[i..])?),
                None => (parse_value(base)?, 0.0),
            };
            for i in 0..=n {
                out.push(Some(start + step * i as f64));
            }
        } else if tok == "_" {
            out.push(None);
        } else {
            out.push(Some(parse_value(tok)?));
        }
    }
    Some(out)
}

fn split_series(line: &str) -> Option<(Labels, &str)> {
    let line = line.trim();
    let end = match line.find('{') {
        Some(_) => line.find('}')? + 1,
        None => line.find(char::is_whitespace).unwrap_or(line.len()),
    };
    let (sel, rest) = line.split_at(end);
    let labels = if sel.starts_with('{') && sel.len() == 2 {
        Labels::empty()
    } else {
        let expr = promql_parser::parser::parse(sel).ok()?;
        let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
            return None;
        };
        let mut pairs: Vec<(String, String)> = vs
            .matchers
            .matchers
            .iter()
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        if let Some(n) = vs.name {
            pairs.push(("__name__".into(), n));
        }
        Labels::from_pairs(pairs)
    };
    Some((labels, rest))
}

fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    diff / (a.abs() + b.abs()).min(f64::MAX) < 1e-6 || diff < 1e-9
}

#[derive(Debug, Default)]
struct Stats {
    pass: usize,
    fail: usize,
    skip: usize,
}

struct Case {
    line: usize,
    query: String,
    range: Option<(i64, i64, i64)>,
    at: i64,
    fail: bool,
    expected: Vec<(Option<Labels>, Vec<Option<f64>>)>,
    skip: bool,
}

async fn run_case(st: &InMemoryStorage, c: &Case) -> Result<(), String> {
    let engine = Engine::new(EngineOptions::default());
    let o = QueryOptions::default();
    let res = match c.range {
        None => engine.instant_query(st, &c.query, c.at, &o).await,
        Some((s, e, step)) => engine.range_query(st, &c.query, s, e, step, &o).await,
    };
    let res = match (res, c.fail) {
        (Err(_), true) => return Ok(()),
        (Err(e), false) => return Err(format!("unexpected error: {e}")),
        (Ok(r), true) => return Err(format!("expected failure, got {:?}", r.value)),
        (Ok(r), false) => r,
    };
    let got: Vec<(Labels, Vec<(i64, f64)>)> = match res.value {
        Value::Scalar { v, t } => vec![(Labels::empty(), vec![(t, v)])],
        Value::String { .. } => return Ok(()),
        Value::Vector(v) => v
            .into_iter()
            .map(|s| (s.labels, vec![(s.t, s.v)]))
            .collect(),
        Value::Matrix(m) => m
            .into_iter()
            .map(|s| (s.labels, s.samples.iter().map(|p| (p.t, p.v)).collect()))
            .collect(),
    };
    if got.len() != c.expected.len() {
        return Err(format!(
            "expected {} series, got {}: {:?}",
            c.expected.len(),
            got.len(),
            got.iter().map(|g| g.0.to_string()).collect::<Vec<_>>()
        ));
    }
    for (labels, vals) in &c.expected {
        let g = match labels {
            Some(l) => got.iter().find(|g| &g.0 == l),
            None => got.first(),
        };
        let Some(g) = g else {
            return Err(format!(
                "missing series {labels:?}; got {:?}",
                got.iter().map(|g| g.0.to_string()).collect::<Vec<_>>()
            ));
        };
        let want: Vec<(i64, f64)> = match c.range {
            None => vals.iter().flatten().map(|v| (c.at, *v)).collect(),
            Some((s, _, step)) => vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (s + step * i as i64, v)))
                .collect(),
        };
        let ok = want.len() == g.1.len()
            && want
                .iter()
                .zip(&g.1)
                .all(|(w, h)| w.0 == h.0 && close(w.1, h.1));
        if !ok {
            return Err(format!("{}: want {want:?}, got {:?}", g.0, g.1));
        }
    }
    Ok(())
}

async fn run_file(path: &std::path::Path, stats: &mut Stats, failures: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut st = InMemoryStorage::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        if line.starts_with("load ") || line.starts_with("load_with_nhcb ") {
            let interval =
                parse_dur(line.split_whitespace().nth(1).unwrap_or("")).unwrap_or(60_000);
            while i < lines.len()
                && lines[i].starts_with([' ', '\t'])
                && !lines[i].trim().is_empty()
            {
                if let Some((labels, rest)) = split_series(lines[i]) {
                    if !rest.contains("{{") {
                        if let Some(vals) = expand(rest) {
                            let samples = vals.into_iter().enumerate().filter_map(|(k, v)| {
                                v.map(|v| Sample::new(interval * k as i64, v))
                            });
                            st.add(labels, samples);
                        }
                    }
                }
                i += 1;
            }
        } else if line == "clear" {
            st = InMemoryStorage::new();
        } else if line.starts_with("eval") {
            let mut words = line.splitn(2, ' ');
            let kind = words.next().unwrap_or("");
            let rest = words.next().unwrap_or("");
            let mut case = Case {
                line: i,
                query: String::new(),
                range: None,
                at: 0,
                fail: kind == "eval_fail",
                expected: Vec::new(),
                skip: false,
            };
            if let Some(r) = rest.strip_prefix("instant at ") {
                let (t, q) = r.split_once(' ').unwrap_or((r, ""));
                case.at = parse_dur(t).unwrap_or(0);
                case.query = q.to_string();
            } else if let Some(r) = rest.strip_prefix("range from ") {
                let w: Vec<&str> = r.splitn(6, ' ').collect();
                if w.len() == 6 {
                    case.range = Some((
                        parse_dur(w[0]).unwrap_or(0),
                        parse_dur(w[2]).unwrap_or(0),
                        parse_dur(w[4]).unwrap_or(1),
                    ));
                    case.query = w[5].to_string();
                }
            }
            while i < lines.len()
                && lines[i].starts_with([' ', '\t'])
                && !lines[i].trim().is_empty()
            {
                let l = lines[i].trim();
                i += 1;
                if let Some(e) = l.strip_prefix("expect ") {
                    if e.starts_with("fail") {
                        case.fail = true;
                    } else if e.starts_with("string") || e.starts_with("range vector") {
                        case.skip = true;
                    }
                    continue;
                }
                if l.contains("{{") {
                    case.skip = true;
                    continue;
                }
                if l.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                    || l.starts_with("NaN")
                    || l.starts_with("Inf")
                {
                    case.expected.push((None, expand(l).unwrap_or_default()));
                } else if let Some((labels, vals)) = split_series(l) {
                    case.expected
                        .push((Some(labels), expand(vals).unwrap_or_default()));
                } else {
                    case.skip = true;
                }
            }
            if case.skip || case.query.is_empty() {
                stats.skip += 1;
                continue;
            }
            match run_case(&st, &case).await {
                Ok(()) => stats.pass += 1,
                Err(e) if e.contains("not supported yet") => stats.skip += 1,
                Err(e) => {
                    stats.fail += 1;
                    failures.push(format!(
                        "{}:{} {}\n    {e}",
                        path.file_name().unwrap_or_default().to_string_lossy(),
                        case.line,
                        case.query
                    ));
                }
            }
        }
    }
}

#[tokio::test]
#[ignore = "needs /work/shared/promql-testdata; diagnostic only"]
async fn upstream() {
    let dir = std::path::Path::new("/work/shared/promql-testdata/upstream");
    let only = std::env::var("PROMQLTEST_FILE").ok();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for path in names {
        if path.extension().is_none_or(|e| e != "test") {
            continue;
        }
        if only
            .as_deref()
            .is_some_and(|o| !path.to_string_lossy().contains(o))
        {
            continue;
        }
        let mut stats = Stats::default();
        let mut failures = Vec::new();
        run_file(&path, &mut stats, &mut failures).await;
        eprintln!("{}: {stats:?}", path.display());
        for f in failures {
            eprintln!("  {f}");
        }
    }
}
