//! Parsing of promqltest scripts: commands, series descriptions and point expansion.

use std::sync::Arc;

use cairn_model::{FloatHistogram, Labels, STALE_NAN};
use regex::Regex;

/// One expanded point of a series description.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Point {
    /// `_`: no sample at this position.
    Omitted,
    /// A float sample (possibly the staleness marker).
    Float(f64),
    /// A native histogram literal `{{...}}`, and whether it spelled out its
    /// `counter_reset_hint` (only then is the hint compared, as upstream does).
    Histogram(Arc<FloatHistogram>, bool),
}

/// A series line: labels and its expanded points.
#[derive(Debug, Clone)]
pub(crate) struct SeriesDesc {
    pub(crate) labels: Labels,
    pub(crate) points: Vec<Point>,
    /// Whether the line had a start-timestamp (`@st`) companion line.
    pub(crate) has_start_timestamps: bool,
}

/// `load`/`load_with_nhcb`.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    pub(crate) interval_ms: i64,
    pub(crate) with_nhcb: bool,
    pub(crate) series: Vec<SeriesDesc>,
}

/// Which annotation or outcome an `expect` line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExpectKind {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// How an `expect` line (or a deprecated spelling) matches a message.
#[derive(Debug, Clone)]
pub(crate) enum MsgMatch {
    /// `msg: <text>`: the whole message.
    Exact(String),
    /// `regex: <re>` (unanchored), or any message when none was given.
    Regex(Regex),
}

impl MsgMatch {
    pub(crate) fn any() -> Self {
        Self::Regex(Regex::new("^.*$").expect("valid regex"))
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        match self {
            Self::Exact(m) => m == s,
            Self::Regex(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for MsgMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(m) => write!(f, "{m:?}"),
            Self::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// One expected series (or the scalar) of an eval.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    /// Position among the expected lines, 1-based (for `expect ordered`).
    pub(crate) pos: usize,
    pub(crate) labels: Labels,
    pub(crate) points: Vec<Point>,
}

/// How an eval runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EvalKind {
    Instant { at: i64 },
    Range { start: i64, end: i64, step: i64 },
}

/// An `eval` command with everything it expects.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    pub(crate) line: usize,
    pub(crate) expr: String,
    pub(crate) kind: EvalKind,
    /// Deprecated `eval_fail`/`eval_warn`/`eval_info`/`eval_ordered` flags.
    pub(crate) fail: bool,
    pub(crate) warn: bool,
    pub(crate) info: bool,
    pub(crate) ordered: bool,
    pub(crate) fail_message: Option<String>,
    pub(crate) fail_regexp: Option<Regex>,
    pub(crate) expects: Vec<(ExpectKind, MsgMatch)>,
    /// `expect range vector from <s> to <e> step <d>`: (start, end, step) of the points.
    pub(crate) range_vector: Option<(i64, i64, i64)>,
    pub(crate) expected_string: Option<String>,
    pub(crate) exclude_from_range_query: bool,
    /// A bare number line: the scalar expected.
    pub(crate) expect_scalar: Option<f64>,
    pub(crate) expected: Vec<Expected>,
    /// A problem with the eval's own definition (reported as a failure).
    pub(crate) invalid: Option<String>,
}

impl Eval {
    pub(crate) fn is_fail(&self) -> bool {
        self.fail || self.expects_of(ExpectKind::Fail).next().is_some()
    }

    pub(crate) fn is_ordered(&self) -> bool {
        self.ordered || self.expects_of(ExpectKind::Ordered).next().is_some()
    }

    pub(crate) fn expects_of(&self, kind: ExpectKind) -> impl Iterator<Item = &MsgMatch> {
        self.expects
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|(_, m)| m)
    }
}

/// A script command.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Load(Load),
    Clear,
    Eval(Box<Eval>),
}

/// A parsed script: commands with their 1-based line numbers, and lines that could not
/// be understood.
#[derive(Debug, Default)]
pub(crate) struct Script {
    pub(crate) commands: Vec<(usize, Command)>,
    pub(crate) errors: Vec<String>,
}

/// Parses a Prometheus duration (`1h30m`, `500ms`, `0`) into milliseconds; a leading `-`
/// is accepted for negative times.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    if let Some(rest) = s.strip_prefix('-') {
        return parse_duration(rest).map(|d| -d);
    }
    if s == "0" {
        return Some(0);
    }
    let mut total = 0i64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    Some(total)
}

/// Go's `strconv.ParseInt(s, 0, 64)` falling back to `ParseFloat`.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let sign = if neg { -1.0 } else { 1.0 };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| sign * v as f64);
    }
    if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        return i64::from_str_radix(&body[1..], 8)
            .ok()
            .map(|v| sign * v as f64);
    }
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    body.replace('_', "").parse::<f64>().ok().map(|v| sign * v)
}

/// A value of a series description (`stale` is the staleness marker). No hexadecimal:
/// `0x59` is 0 repeated 59 more times.
fn parse_value(s: &str) -> Option<f64> {
    if s == "stale" {
        return Some(STALE_NAN);
    }
    if s.contains(['x', 'X']) {
        return None;
    }
    parse_number(s)
}

/// Splits the values part of a series line into items; `{{...}}` literals (which contain
/// spaces) stay whole, with any expansion suffix.
fn value_items(s: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut depth = 0usize;
        while i < bytes.len() && (depth > 0 || !bytes[i].is_ascii_whitespace()) {
            if s[i..].starts_with("{{") {
                depth += 1;
                i += 2;
            } else if depth > 0 && s[i..].starts_with("}}") {
                depth -= 1;
                i += 2;
            } else {
                i += 1;
            }
        }
        if depth > 0 {
            return Err(format!("unterminated histogram literal in {s:?}"));
        }
        items.push(&s[start..i]);
    }
    Ok(items)
}

/// Expands one item: `a`, `_`, `_xn`, `axn`, `a+bxn`, `a-bxn`, `{{...}}`, `{{...}}xn`,
/// `{{...}}+{{...}}xn`.
fn expand_item(item: &str, out: &mut Vec<Point>) -> Result<(), String> {
    let bad = || format!("invalid series value {item:?}");
    let split_count = |s: &str| -> Option<(usize, usize)> {
        let x = s.rfind('x')?;
        let n = s[x + 1..].parse::<usize>().ok()?;
        Some((x, n))
    };
    if item.starts_with("{{") {
        let end = item.rfind("}}").ok_or_else(bad)?;
        let n = match &item[end + 2..] {
            "" => 0,
            tail => tail
                .strip_prefix('x')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(bad)?,
        };
        let body = &item[..end + 2];
        let literal = |text: &str| -> Result<(FloatHistogram, bool), String> {
            let h = FloatHistogram::parse_test_expression(text)
                .map_err(|e| format!("invalid histogram {text:?}: {e}"))?;
            Ok((h, text.contains("counter_reset_hint")))
        };
        // `{{a}}+{{b}}xn`: a, a+b, ..., a+n·b; `{{a}}xn`: a repeated n+1 times.
        if let Some(split) = body.find("}}+{{").or_else(|| body.find("}}-{{")) {
            let (a, hint) = literal(&body[..split + 2])?;
            let (b, _) = literal(&body[split + 3..])?;
            let subtract = body.as_bytes()[split + 2] == b'-';
            let mut cur = a;
            for k in 0..=n {
                if k > 0 {
                    let r = if subtract { cur.sub(&b) } else { cur.add(&b) };
                    r.map_err(|e| format!("invalid series value {item:?}: {e}"))?;
                }
                out.push(Point::Histogram(Arc::new(cur.clone()), hint));
            }
        } else {
            let (h, hint) = literal(body)?;
            let h = Arc::new(h);
            out.extend(std::iter::repeat_n(Point::Histogram(h, hint), n + 1));
        }
        return Ok(());
    }
    if item == "_" {
        out.push(Point::Omitted);
        return Ok(());
    }
    if let Some(n) = item.strip_prefix("_x") {
        let n: usize = n.parse().map_err(|_| bad())?;
        out.extend(std::iter::repeat_n(Point::Omitted, n));
        return Ok(());
    }
    if let Some(v) = parse_value(item) {
        out.push(Point::Float(v));
        return Ok(());
    }
    let (x, n) = split_count(item).ok_or_else(bad)?;
    let base = &item[..x];
    if let Some(v) = parse_value(base) {
        out.extend(std::iter::repeat_n(Point::Float(v), n + 1));
        return Ok(());
    }
    // a+b or a-b: try every sign that is not the leading one or part of an exponent.
    for (i, c) in base.char_indices().skip(1) {
        if c != '+' && c != '-' {
            continue;
        }
        if matches!(base.as_bytes()[i - 1], b'e' | b'E')
            && base[..i - 1].ends_with(|c: char| c.is_ascii_digit())
        {
            continue;
        }
        if let (Some(a), Some(b)) = (parse_value(&base[..i]), parse_value(&base[i..])) {
            for k in 0..=n {
                out.push(Point::Float(a + b * k as f64));
            }
            return Ok(());
        }
    }
    Err(bad())
}

/// Expands the values part of a series line.
pub(crate) fn expand_values(s: &str) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for item in value_items(s)? {
        expand_item(item, &mut out)?;
    }
    Ok(out)
}

/// Reads a Go-quoted string (`"..."`, `'...'` or `` `...` ``) at the start of `s`;
/// returns it and the number of bytes consumed.
pub(crate) fn unquote_prefix(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("expected a quoted string at {s:?}")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape")?;
        let mut hex = |n: usize| -> Result<char, String> {
            let digits: String = (0..n)
                .filter_map(|_| chars.next().map(|(_, c)| c))
                .collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("invalid escape in {s:?}"))
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' => out.push(hex(2)?),
            'u' => out.push(hex(4)?),
            'U' => out.push(hex(8)?),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let (_, d) = chars.next().ok_or("unterminated escape")?;
                    v = v * 8 + d.to_digit(8).ok_or("invalid octal escape")?;
                }
                out.push(char::from_u32(v).ok_or("invalid octal escape")?);
            }
            other => out.push(other),
        }
    }
    Err(format!("unterminated string in {s:?}"))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit()
}

/// Parses `name{l="v", ...}` (either part optional; `{"utf8.name", l="v"}` too) at the
/// start of `s`; returns the labels and the rest of the line.
pub(crate) fn parse_metric(s: &str) -> Result<(Labels, &str), String> {
    let s = s.trim_start();
    let mut pairs: Vec<(String, String)> = Vec::new();
    let name_len = if s.starts_with(is_ident_start) {
        s.find(|c: char| !is_ident(c)).unwrap_or(s.len())
    } else {
        0
    };
    if name_len > 0 {
        pairs.push((cairn_model::METRIC_NAME.into(), s[..name_len].into()));
    }
    let mut rest = &s[name_len..];
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let name = if rest.starts_with(['"', '\'', '`']) {
                let (n, used) = unquote_prefix(rest)?;
                rest = &rest[used..];
                n
            } else {
                let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
                if len == 0 {
                    return Err(format!("invalid label set at {rest:?}"));
                }
                let n = rest[..len].to_string();
                rest = &rest[len..];
                n
            };
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('=') {
                let r = r.trim_start();
                let (v, used) = unquote_prefix(r)?;
                pairs.push((name, v));
                rest = &r[used..];
            } else {
                // A quoted metric name inside the braces.
                pairs.push((cairn_model::METRIC_NAME.into(), name));
            }
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if !rest.starts_with('}') {
                return Err(format!("invalid label set at {rest:?}"));
            }
        }
    } else if name_len == 0 {
        return Err(format!("invalid series description {s:?}"));
    }
    Ok((Labels::from_pairs(pairs), rest))
}

/// Parses a series line: labels and expanded points.
pub(crate) fn parse_series(line: &str) -> Result<(Labels, Vec<Point>), String> {
    let (labels, rest) = parse_metric(line)?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return Err(format!("invalid series description {line:?}"));
    }
    Ok((labels, expand_values(rest)?))
}

/// Comments become blank lines and every line is trimmed, like upstream's `getLines`.
fn lines_of(input: &str) -> Vec<&str> {
    input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect()
}

/// Parses a whole script.
pub(crate) fn parse_script(input: &str) -> Script {
    let lines = lines_of(input);
    let mut script = Script::default();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let line_no = i + 1;
        if word == "clear" {
            script.commands.push((line_no, Command::Clear));
            i += 1;
        } else if word.starts_with("load") {
            match parse_load(&lines, &mut i) {
                Ok(load) => script.commands.push((line_no, Command::Load(load))),
                Err(e) => script.errors.push(format!("line {line_no}: {e}")),
            }
        } else if word.starts_with("eval") {
            let ev = parse_eval(&lines, &mut i);
            script.commands.push((line_no, Command::Eval(Box::new(ev))));
        } else {
            script
                .errors
                .push(format!("line {line_no}: invalid command {l:?}"));
            i += 1;
        }
    }
    script
}

/// Parses `load[_with_nhcb] <interval>` and its series lines; leaves `i` after the block.
fn parse_load(lines: &[&str], i: &mut usize) -> Result<Load, String> {
    let head = lines[*i];
    *i += 1;
    let mut words = head.split_whitespace();
    let with_nhcb = match words.next() {
        Some("load") => false,
        Some("load_with_nhcb") => true,
        _ => return Err(format!("invalid load command {head:?}")),
    };
    let interval = words.next().unwrap_or("");
    let interval_ms =
        parse_duration(interval).ok_or_else(|| format!("invalid step definition {interval:?}"))?;
    let mut load = Load {
        interval_ms,
        with_nhcb,
        series: Vec::new(),
    };
    let mut st_pending: Option<Labels> = None;
    let mut st_default = false;
    while *i < lines.len() && !lines[*i].is_empty() {
        let l = lines[*i];
        *i += 1;
        let first = l.split_whitespace().next().unwrap_or("");
        if let Some(metric) = first.strip_suffix("@st") {
            // Start timestamps: not stored; remember which series carry them.
            if metric.is_empty() {
                st_default = true;
            } else {
                st_pending = Some(parse_metric(metric)?.0);
            }
            continue;
        }
        let (labels, points) = parse_series(l).map_err(|e| format!("line {}: {e}", *i))?;
        let has_start_timestamps = st_default || st_pending.take().is_some();
        load.series.push(SeriesDesc {
            labels,
            points,
            has_start_timestamps,
        });
    }
    Ok(load)
}

/// `eval[_fail|_warn|_info|_ordered] instant [at <t>] <expr>` or
/// `eval[_fail|_warn|_info] range from <s> to <e> step <d> <expr>`.
fn parse_eval_head(head: &str) -> Result<(String, EvalKind, String), String> {
    let (word, rest) = head.split_once(char::is_whitespace).unwrap_or((head, ""));
    let modifier = word.strip_prefix("eval").unwrap_or("");
    let modifier = modifier.strip_prefix('_').unwrap_or(modifier).to_string();
    let rest = rest.trim_start();
    let bad = || format!("invalid evaluation command {head:?}");
    if let Some(r) = rest.strip_prefix("instant") {
        let r = r.trim_start();
        let (at, expr) = match r.strip_prefix("at") {
            Some(a) if a.starts_with(char::is_whitespace) => {
                let a = a.trim_start();
                a.split_once(char::is_whitespace).ok_or_else(bad)?
            }
            _ => ("0", r),
        };
        let at =
            parse_duration(at).ok_or_else(|| format!("invalid timestamp definition {at:?}"))?;
        return Ok((modifier, EvalKind::Instant { at }, expr.trim().to_string()));
    }
    let r = rest.strip_prefix("range").ok_or_else(bad)?.trim_start();
    let r = r.strip_prefix("from").ok_or_else(bad)?.trim_start();
    let (from, r) = r.split_once(" to ").ok_or_else(bad)?;
    let (to, r) = r.trim_start().split_once(" step ").ok_or_else(bad)?;
    let (step, expr) = r
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(bad)?;
    let (start, end, step) = parse_range(from.trim(), to.trim(), step)?;
    Ok((
        modifier,
        EvalKind::Range { start, end, step },
        expr.trim().to_string(),
    ))
}

fn parse_range(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = parse_duration(from)
        .ok_or_else(|| format!("invalid start timestamp definition {from:?}"))?;
    let end =
        parse_duration(to).ok_or_else(|| format!("invalid end timestamp definition {to:?}"))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step = parse_duration(step).ok_or_else(|| format!("invalid step definition {step:?}"))?;
    Ok((start, end, step))
}

/// `expect <kind> [msg: <text> | regex: <re>]`.
fn parse_expect(line: &str) -> Result<(ExpectKind, MsgMatch), String> {
    let rest = line.strip_prefix("expect").unwrap_or(line).trim_start();
    let (kind, opt) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let kind = match kind {
        "ordered" => ExpectKind::Ordered,
        "fail" => ExpectKind::Fail,
        "warn" => ExpectKind::Warn,
        "no_warn" => ExpectKind::NoWarn,
        "info" => ExpectKind::Info,
        "no_info" => ExpectKind::NoInfo,
        other => return Err(format!("invalid expected error/annotation type {other}")),
    };
    let opt = opt.trim_start();
    let m = if let Some(m) = opt.strip_prefix("msg:") {
        MsgMatch::Exact(m.trim().to_string())
    } else if let Some(r) = opt.strip_prefix("regex:") {
        let r = r.trim();
        MsgMatch::Regex(Regex::new(r).map_err(|e| format!("invalid regex {r}: {e}"))?)
    } else if opt.is_empty() {
        MsgMatch::any()
    } else {
        return Err(format!("invalid expect statement {line:?}"));
    };
    Ok((kind, m))
}

/// Parses an eval and its block; leaves `i` after the block. Problems end up in
/// [`Eval::invalid`].
fn parse_eval(lines: &[&str], i: &mut usize) -> Eval {
    let head = lines[*i];
    let line = *i + 1;
    *i += 1;
    let mut ev = Eval {
        line,
        expr: String::new(),
        kind: EvalKind::Instant { at: 0 },
        fail: false,
        warn: false,
        info: false,
        ordered: false,
        fail_message: None,
        fail_regexp: None,
        expects: Vec::new(),
        range_vector: None,
        expected_string: None,
        exclude_from_range_query: false,
        expect_scalar: None,
        expected: Vec::new(),
        invalid: None,
    };
    match parse_eval_head(head) {
        Ok((modifier, kind, expr)) => {
            ev.kind = kind;
            ev.expr = expr;
            match modifier.as_str() {
                "" => {}
                "fail" => ev.fail = true,
                "warn" => ev.warn = true,
                "info" => ev.info = true,
                "ordered" if matches!(kind, EvalKind::Instant { .. }) => ev.ordered = true,
                _ => ev.invalid = Some(format!("invalid evaluation command {head:?}")),
            }
        }
        Err(e) => ev.invalid = Some(e),
    }
    while *i < lines.len() && !lines[*i].is_empty() {
        let l = lines[*i];
        *i += 1;
        if let Err(e) = parse_eval_line(&mut ev, l) {
            ev.invalid.get_or_insert(e);
        }
        // Upstream stops reading the block after these lines.
        if ev.expect_scalar.is_some()
            || (ev.fail
                && (l.starts_with("expected_fail_message")
                    || l.starts_with("expected_fail_regexp")))
        {
            break;
        }
    }
    ev
}

fn parse_eval_line(ev: &mut Eval, l: &str) -> Result<(), String> {
    if ev.fail {
        if let Some(m) = l.strip_prefix("expected_fail_message") {
            ev.fail_message = Some(m.trim().to_string());
            return Ok(());
        }
        if let Some(r) = l.strip_prefix("expected_fail_regexp") {
            let r = r.trim();
            ev.fail_regexp = Some(
                Regex::new(r)
                    .map_err(|e| format!("invalid regexp '{r}' for expected_fail_regexp: {e}"))?,
            );
            return Ok(());
        }
    }
    if let Some(r) = l.strip_prefix("expect range vector") {
        let r = r.trim_start();
        let bad = || format!("invalid range vector definition {l:?}");
        let r = r.strip_prefix("from").ok_or_else(bad)?.trim_start();
        let (from, r) = r.split_once(" to ").ok_or_else(bad)?;
        let (to, step) = r.trim_start().split_once(" step ").ok_or_else(bad)?;
        let (start, end, step) = parse_range(from.trim(), to.trim(), step.trim())?;
        ev.range_vector = Some((start, end, step));
        ev.exclude_from_range_query = true;
        if let EvalKind::Instant { at } = &mut ev.kind {
            *at = end;
        }
        return Ok(());
    }
    if let Some(s) = l.strip_prefix("expect string") {
        let s = s.strip_prefix(' ').unwrap_or(s);
        if s.is_empty() {
            return Err(
                "expected string literal not valid - a quoted string literal is required".into(),
            );
        }
        let (v, used) = unquote_prefix(s)?;
        if used != s.len() {
            return Err(
                "expected string literal not valid - check that the string is correctly quoted"
                    .into(),
            );
        }
        ev.expected_string = Some(v);
        ev.exclude_from_range_query = true;
        return Ok(());
    }
    if l.split(' ').next() == Some("expect") {
        let e = parse_expect(l)?;
        ev.expects.push(e);
        return Ok(());
    }
    if let Some(v) = parse_number(l) {
        ev.expect_scalar = Some(v);
        return Ok(());
    }
    let (labels, points) = parse_series(l)?;
    if points.len() > 1 && matches!(ev.kind, EvalKind::Instant { .. }) && ev.range_vector.is_none()
    {
        return Err("expecting multiple values in instant evaluation not allowed".into());
    }
    let pos = ev.expected.len() + 1;
    ev.expected.retain(|e| e.labels != labels);
    ev.expected.push(Expected {
        pos,
        labels,
        points,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(s: &str) -> Vec<Option<f64>> {
        expand_values(s)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Point::Float(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expands_points_like_promtool() {
        assert_eq!(
            floats("1+2x3"),
            [Some(1.0), Some(3.0), Some(5.0), Some(7.0)]
        );
        assert_eq!(floats("10-1x2"), [Some(10.0), Some(9.0), Some(8.0)]);
        assert_eq!(floats("-1-1x1"), [Some(-1.0), Some(-2.0)]);
        assert_eq!(
            floats("5x2 _ _x2 7"),
            [Some(5.0), Some(5.0), Some(5.0), None, None, None, Some(7.0)]
        );
        assert_eq!(
            floats("1e3 -Inf 0x1"),
            [Some(1000.0), Some(f64::NEG_INFINITY), Some(0.0), Some(0.0)]
        );
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(floats("1e-3+1e-3x1"), [Some(0.001), Some(0.002)]);
        let p =
            expand_values("stale {{schema:0 sum:1 count:2}}x2 {{count:1}}+{{count:1}}x1").unwrap();
        assert!(matches!(p[0], Point::Float(v) if cairn_model::is_stale_nan(v)));
        assert!(p[1..].iter().all(|p| matches!(p, Point::Histogram(..))));
        let count = |p: &Point| match p {
            Point::Histogram(h, _) => h.count,
            _ => f64::NAN,
        };
        assert_eq!(
            p[1..].iter().map(count).collect::<Vec<_>>(),
            [2.0, 2.0, 2.0, 1.0, 2.0]
        );
    }

    #[test]
    fn parses_metrics() {
        let (l, rest) = parse_metric(r#"foo{a="x y", b='q\"', "c.d"="1"} 1 2"#).unwrap();
        assert_eq!(l.get("__name__"), Some("foo"));
        assert_eq!(l.get("a"), Some("x y"));
        assert_eq!(l.get("b"), Some("q\""));
        assert_eq!(l.get("c.d"), Some("1"));
        assert_eq!(rest, " 1 2");
        let (l, _) = parse_metric(r#"{"some.metric", x="1"}"#).unwrap();
        assert_eq!(l.get("__name__"), Some("some.metric"));
        assert!(parse_metric("{}").unwrap().0.is_empty());
    }

    #[test]
    fn parses_eval_blocks() {
        let s = parse_script(
            "load 1m\n  foo 1+1x3\n\n# c\neval_fail instant at 1m foo\n  expected_fail_message boom\n\neval range from 0 to 2m step 1m foo\n  expect warn msg: w\n  expect no_info\n  foo 1 2 3\n\neval instant at 0 \"a\"\n  expect string \"a\"\n",
        );
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.commands.len(), 4);
        let Command::Eval(e) = &s.commands[1].1 else {
            panic!()
        };
        assert!(e.is_fail());
        assert_eq!(e.fail_message.as_deref(), Some("boom"));
        assert_eq!(e.kind, EvalKind::Instant { at: 60_000 });
        let Command::Eval(e) = &s.commands[2].1 else {
            panic!()
        };
        assert_eq!(
            e.kind,
            EvalKind::Range {
                start: 0,
                end: 120_000,
                step: 60_000
            }
        );
        assert_eq!(e.expects.len(), 2);
        assert_eq!(e.expected[0].points.len(), 3);
        let Command::Eval(e) = &s.commands[3].1 else {
            panic!()
        };
        assert_eq!(e.expected_string.as_deref(), Some("a"));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("-1m"), Some(-60_000));
    }
}
