//! The histogram literals of Prometheus's PromQL test scripts and promtool rule tests,
//! `{{schema:1 sum:10 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2] offset:-1
//! n_buckets:[0 1] n_offset:2 custom_values:[...] counter_reset_hint:gauge}}`, in both
//! directions.
//!
//! The parser accepts what Prometheus's series-description lexer and grammar accept:
//! fields in any order, each at most once, separated by whitespace (none after `{{`,
//! none around `:`, any before `}}`); floats in decimal, with exponent, `_` between
//! digits, `Inf`/`NaN` in any case, a leading-`0` integer read as octal (Go's
//! `ParseInt(s, 0, 64)`), but no hexadecimal, no `+` sign and no `-Inf` inside a bucket
//! list; integer fields (`schema`, `offset`, `n_offset`) in plain decimal.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Bucket, CounterResetHint, FloatHistogram, Span};
use crate::gofloat::go_float;

impl FloatHistogram {
    /// Parses a histogram literal of the PromQL test format, with or without the
    /// surrounding `{{ }}`. Absent fields are zero (schema 0, zero threshold 0, no
    /// buckets, unknown hint). Each bucket list becomes a single span starting at
    /// `offset` (`n_offset` for `n_buckets`), empty buckets included.
    pub fn parse_test_expression(s: &str) -> Result<FloatHistogram, String> {
        let inner = match s.strip_prefix("{{") {
            Some(rest) => rest
                .strip_suffix("}}")
                .ok_or_else(|| "histogram literal does not end with \"}}\"".to_string())?,
            None => s,
        };
        Parser { s: inner, pos: 0 }.histogram()
    }

    /// The histogram as Go's `FloatHistogram.String()` spells it, e.g. `{count:5,
    /// sum:7.5, [-0.001,0.001]:1, (0.5,1]:2}`: the non-empty buckets in value order.
    /// PromQL uses it where a histogram becomes a label value (`count_values`).
    pub fn go_string(&self) -> String {
        let bucket = |b: &Bucket| {
            format!(
                "{}{},{}{}:{}",
                if b.lower_inclusive { '[' } else { '(' },
                go_float(b.lower),
                go_float(b.upper),
                if b.upper_inclusive { ']' } else { ')' },
                go_float(b.count)
            )
        };
        let mut out = format!(
            "{{count:{}, sum:{}",
            go_float(self.count),
            go_float(self.sum)
        );
        let negative: Vec<Bucket> = self.buckets(false).filter(|b| b.count != 0.0).collect();
        for b in negative.iter().rev() {
            out.push_str(", ");
            out.push_str(&bucket(b));
        }
        if self.zero_count != 0.0 {
            out.push_str(", ");
            out.push_str(&bucket(&self.zero_bucket()));
        }
        for b in self.buckets(true).filter(|b| b.count != 0.0) {
            out.push_str(", ");
            out.push_str(&bucket(&b));
        }
        out.push('}');
        out
    }

    /// This histogram in the PromQL test format, as Prometheus's `TestExpression`
    /// writes it: compacted into one span per side, fields that are zero (or unknown)
    /// left out, floats as Go's `%g` prints them.
    pub fn test_expression(&self) -> String {
        let mut m = self.clone();
        if m.uses_custom_buckets() {
            m.zero_threshold = 0.0;
            m.zero_count = 0.0;
            m.negative_spans.clear();
            m.negative_buckets.clear();
        }
        m.compact(usize::MAX);
        let mut parts: Vec<String> = Vec::new();
        if m.schema != 0 {
            parts.push(format!("schema:{}", m.schema));
        }
        for (name, v) in [
            ("count", m.count),
            ("sum", m.sum),
            ("z_bucket", m.zero_count),
            ("z_bucket_w", m.zero_threshold),
        ] {
            if v != 0.0 {
                parts.push(format!("{name}:{}", go_float(v)));
            }
        }
        if m.uses_custom_buckets() {
            parts.push(format!("custom_values:{}", go_floats(m.custom_bounds())));
        }
        match m.counter_reset_hint {
            CounterResetHint::Unknown => {}
            CounterResetHint::CounterReset => parts.push("counter_reset_hint:reset".into()),
            CounterResetHint::NotCounterReset => parts.push("counter_reset_hint:not_reset".into()),
            CounterResetHint::Gauge => parts.push("counter_reset_hint:gauge".into()),
        }
        for (buckets_key, offset_key, spans, buckets) in [
            ("buckets", "offset", &m.positive_spans, &m.positive_buckets),
            (
                "n_buckets",
                "n_offset",
                &m.negative_spans,
                &m.negative_buckets,
            ),
        ] {
            // Compaction leaves at most one span for valid spans.
            if let Some(span) = spans.first().filter(|s| s.offset != 0) {
                parts.push(format!("{offset_key}:{}", span.offset));
            }
            if !buckets.is_empty() {
                parts.push(format!("{buckets_key}:{}", go_floats(buckets)));
            }
        }
        format!("{{{{{}}}}}", parts.join(" "))
    }
}

/// A float slice as Go's `%g` prints it: `[1 2.5 +Inf]`.
fn go_floats(vs: &[f64]) -> String {
    let items: Vec<String> = vs.iter().map(|v| go_float(*v)).collect();
    format!("[{}]", items.join(" "))
}

/// The fields of a histogram literal.
const FIELDS: [&str; 11] = [
    "schema",
    "sum",
    "count",
    "z_bucket",
    "z_bucket_w",
    "buckets",
    "offset",
    "n_buckets",
    "n_offset",
    "custom_values",
    "counter_reset_hint",
];

/// A recursive-descent reader of the inside of `{{ }}`.
#[derive(Debug)]
struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn histogram(mut self) -> Result<FloatHistogram, String> {
        let mut h = FloatHistogram::default();
        if self.s.chars().all(is_space) {
            return Ok(h);
        }
        let mut seen = HashSet::new();
        let (mut buckets, mut offset, mut n_buckets, mut n_offset) = (None, 0, None, 0);
        loop {
            let field = self.field()?;
            if !seen.insert(field) {
                return Err(format!("duplicate key {field:?} in histogram"));
            }
            match field {
                "schema" => h.schema = self.int(field)?,
                "offset" => offset = self.int(field)?,
                "n_offset" => n_offset = self.int(field)?,
                "sum" => h.sum = self.signed_float(field)?,
                "count" => h.count = self.signed_float(field)?,
                "z_bucket" => h.zero_count = self.signed_float(field)?,
                "z_bucket_w" => h.zero_threshold = self.float(field)?,
                "buckets" => buckets = Some(self.float_list(field)?),
                "n_buckets" => n_buckets = Some(self.float_list(field)?),
                "custom_values" => h.custom_values = Some(Arc::from(self.float_list(field)?)),
                _ => h.counter_reset_hint = self.hint()?,
            }
            let spaces = self.skip_spaces();
            if self.pos == self.s.len() {
                break;
            }
            if spaces == 0 {
                return Err(format!(
                    "expected a space after the {field} value, found {:?}",
                    self.rest()
                ));
            }
        }
        (h.positive_spans, h.positive_buckets) = single_span(buckets, offset);
        (h.negative_spans, h.negative_buckets) = single_span(n_buckets, n_offset);
        Ok(h)
    }

    /// A field name and its colon.
    fn field(&mut self) -> Result<&'static str, String> {
        let word = self.word();
        if word.is_empty() {
            return Err(format!(
                "expected a histogram field, found {:?}",
                self.rest()
            ));
        }
        let lower = word.to_ascii_lowercase();
        let field = FIELDS
            .iter()
            .find(|f| **f == lower)
            .ok_or_else(|| format!("bad histogram descriptor found: {word:?}"))?;
        if !self.eat(':') {
            return Err(format!("missing `:` for histogram descriptor {word:?}"));
        }
        Ok(field)
    }

    /// `[-]digits` for `schema`, `offset` and `n_offset`.
    fn int(&mut self, field: &str) -> Result<i32, String> {
        let negative = self.eat('-');
        let token = self.number_token();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid {field} value {:?}: expected an integer",
                self.rest_from(token)
            ));
        }
        let magnitude: i64 = token
            .parse()
            .map_err(|_| format!("{field} value {token} is out of range"))?;
        let v = if negative { -magnitude } else { magnitude };
        i32::try_from(v).map_err(|_| format!("{field} value {v} is out of range"))
    }

    /// A float that may be negative.
    fn signed_float(&mut self, field: &str) -> Result<f64, String> {
        let negative = self.eat('-');
        let v = self.float(field)?;
        Ok(if negative { -v } else { v })
    }

    /// An unsigned float: a number or `Inf`/`NaN`.
    fn float(&mut self, field: &str) -> Result<f64, String> {
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        {
            let word = self.word();
            return special_float(word).ok_or_else(|| format!("invalid {field} value {word:?}"));
        }
        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
            return Err(format!(
                "invalid {field} value {:?}: expected a number",
                self.rest()
            ));
        }
        let token = self.number_token();
        go_number(token).map_err(|e| format!("invalid {field} value {token:?}: {e}"))
    }

    /// `[v v ...]`: at least one value, single spaces or runs of whitespace between
    /// them, none after `[`.
    fn float_list(&mut self, field: &str) -> Result<Vec<f64>, String> {
        if !self.eat('[') {
            return Err(format!(
                "expected \"[\" after {field}:, found {:?}",
                self.rest()
            ));
        }
        let mut out = Vec::new();
        loop {
            let v = match self.peek() {
                Some('-') => {
                    self.pos += 1;
                    if !self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                        return Err(format!("bad number in {field}: {:?}", self.rest()));
                    }
                    -go_number(self.number_token())
                        .map_err(|e| format!("invalid value in {field}: {e}"))?
                }
                Some(c) if c.is_ascii_digit() => go_number(self.number_token())
                    .map_err(|e| format!("invalid value in {field}: {e}"))?,
                Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                    let word = self.word();
                    special_float(word)
                        .ok_or_else(|| format!("invalid value {word:?} in {field}"))?
                }
                _ => return Err(format!("invalid character in {field}: {:?}", self.rest())),
            };
            out.push(v);
            let spaces = self.skip_spaces();
            if self.eat(']') {
                return Ok(out);
            }
            if spaces == 0 {
                return Err(format!(
                    "expected a space or \"]\" in {field}, found {:?}",
                    self.rest()
                ));
            }
        }
    }

    fn hint(&mut self) -> Result<CounterResetHint, String> {
        let word = self.word();
        match word.to_ascii_lowercase().as_str() {
            "unknown" => Ok(CounterResetHint::Unknown),
            "reset" => Ok(CounterResetHint::CounterReset),
            "not_reset" => Ok(CounterResetHint::NotCounterReset),
            "gauge" => Ok(CounterResetHint::Gauge),
            _ => Err(format!(
                "invalid counter_reset_hint {word:?}: expected unknown, reset, not_reset or gauge"
            )),
        }
    }

    /// The longest run of letters and underscores.
    fn word(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii_alphabetic() || c == '_')
    }

    /// A number as the lexer delimits it: digits, `.`, `_`, and an exponent with an
    /// optional sign. Whether it is well-formed is up to [`go_number`].
    fn number_token(&mut self) -> &'a str {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            let exponent_sign = (b == b'+' || b == b'-')
                && matches!(bytes.get(self.pos.wrapping_sub(1)), Some(b'e' | b'E'));
            if b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'e' | b'E') || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let s: &'a str = self.s;
        &s[start..self.pos]
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        let len = self.s[start..]
            .find(|c| !f(c))
            .unwrap_or(self.s.len() - start);
        self.pos += len;
        let s: &'a str = self.s;
        &s[start..self.pos]
    }

    fn skip_spaces(&mut self) -> usize {
        self.take_while(is_space).len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    /// The input from where `token` started.
    fn rest_from(&self, token: &str) -> &str {
        &self.s[self.pos - token.len()..]
    }
}

/// Whitespace as the PromQL lexer defines it.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// `Inf` or `NaN` in any case.
fn special_float(word: &str) -> Option<f64> {
    match word.to_ascii_lowercase().as_str() {
        "inf" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

/// A number token as PromQL's parser reads it: first as a Go integer literal
/// (`ParseInt(s, 0, 64)`, so a leading `0` means octal), else as a Go float. Underscores
/// must sit between digits; values beyond the float range are an error.
fn go_number(token: &str) -> Result<f64, String> {
    let bytes = token.as_bytes();
    let misplaced = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'_'
            && !(i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
    });
    if token.is_empty() || misplaced {
        return Err(format!("bad number syntax: {token:?}"));
    }
    let plain: String = token.chars().filter(|c| *c != '_').collect();
    if plain.len() > 1
        && plain.starts_with('0')
        && plain.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        if let Ok(v) = i64::from_str_radix(&plain, 8) {
            return Ok(v as f64);
        }
    }
    let v: f64 = plain
        .parse()
        .map_err(|_| format!("bad number syntax: {token:?}"))?;
    if v.is_infinite() {
        return Err(format!("number {token:?} is out of range"));
    }
    Ok(v)
}

/// One span holding all `buckets` (empty ones included), starting at `offset`.
fn single_span(buckets: Option<Vec<f64>>, offset: i32) -> (Vec<Span>, Vec<f64>) {
    match buckets {
        Some(b) if !b.is_empty() => (
            vec![Span {
                offset,
                length: b.len() as u32,
            }],
            b,
        ),
        _ => (Vec::new(), Vec::new()),
    }
}
