//! End-to-end tests of the engine on small hand-built data. Expected values are derived
//! by hand from Prometheus 3 semantics (see comments).

use cairn_model::{Labels, Sample, STALE_NAN};

use crate::{Engine, EngineOptions, InMemoryStorage, QueryError, QueryOptions, Storage, Value};

mod basics;
mod functions;
mod histograms;
mod limits;
mod names;
mod operators;

pub(super) const S: i64 = 1000;
pub(super) const M: i64 = 60 * S;

/// Parses `name{a="b"}` into labels.
pub(super) fn labels(sel: &str) -> Labels {
    let expr = promql_parser::parser::parse(sel).expect("valid selector");
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        panic!("not a selector: {sel}")
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
}

/// Expands promqltest-style values (`1 _ stale 0+10x3 5-1x2`) into samples every
/// `interval_ms` starting at 0.
pub(super) fn expand(values: &str, interval_ms: i64) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut t = 0;
    for tok in values.split_whitespace() {
        let mut push = |v: Option<f64>, t: &mut i64| {
            if let Some(v) = v {
                out.push(Sample::new(*t, v));
            }
            *t += interval_ms;
        };
        if let Some((base, rest)) = tok.split_once('x').filter(|_| !tok.starts_with("0x")) {
            let n: usize = rest.parse().expect("repeat count");
            if base == "_" {
                t += interval_ms * n as i64;
                continue;
            }
            let (start, step) = match base[1..].find(['+', '-']) {
                Some(i) => {
                    let (a, b) = base.split_at(i + 1);
                    (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap())
                }
                None => (base.parse::<f64>().unwrap(), 0.0),
            };
            for i in 0..=n {
                push(Some(start + step * i as f64), &mut t);
            }
            continue;
        }
        let v = match tok {
            "_" => None,
            "stale" => Some(STALE_NAN),
            "NaN" => Some(f64::NAN),
            "Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            x => Some(x.parse().expect("number")),
        };
        push(v, &mut t);
    }
    out
}

pub(super) fn storage(interval_ms: i64, series: &[(&str, &str)]) -> InMemoryStorage {
    let mut s = InMemoryStorage::new();
    for (sel, vals) in series {
        s.add(labels(sel), expand(vals, interval_ms));
    }
    s
}

pub(super) fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

pub(super) async fn instant(st: &dyn Storage, q: &str, t: i64) -> Result<Value, QueryError> {
    engine()
        .instant_query(st, q, t, &QueryOptions::default())
        .await
        .map(|r| r.value)
}

/// Instant query returning `(labels, value)` pairs in result order.
pub(super) async fn vector(st: &dyn Storage, q: &str, t: i64) -> Vec<(String, f64)> {
    match instant(st, q, t).await {
        Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect(),
        other => panic!("{q}: expected vector, got {other:?}"),
    }
}

pub(super) async fn scalar(st: &dyn Storage, q: &str, t: i64) -> f64 {
    match instant(st, q, t).await {
        Ok(Value::Scalar { v, .. }) => v,
        other => panic!("{q}: expected scalar, got {other:?}"),
    }
}

pub(super) async fn exec_err(st: &dyn Storage, q: &str, t: i64) -> QueryError {
    match instant(st, q, t).await {
        Err(e) => e,
        Ok(v) => panic!("{q}: expected error, got {v:?}"),
    }
}

pub(super) fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

#[track_caller]
pub(super) fn assert_vec(got: &[(String, f64)], want: &[(&str, f64)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}, want {want:?}");
    for ((gl, gv), (wl, wv)) in got.iter().zip(want) {
        assert_eq!(gl, wl, "got {got:?}, want {want:?}");
        assert!(close(*gv, *wv), "{gl}: got {gv}, want {wv}");
    }
}

#[track_caller]
pub(super) fn assert_one(got: &[(String, f64)], want: f64) {
    assert_eq!(got.len(), 1, "got {got:?}");
    assert!(close(got[0].1, want), "got {}, want {want}", got[0].1);
}
