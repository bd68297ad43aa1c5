//! Parsing query text the way Prometheus reads its string literals.
//!
//! Go's `strconv.Unquote`, which Prometheus's lexer uses, reads `\xNN` (and octal
//! `\NNN`) as raw bytes: `"\xc3\xbf"` is `"ÿ"` and `"\xff"` is one invalid byte.
//! `promql-parser` reads `\xNN` as the code point U+00NN instead. Before parsing, runs of
//! byte escapes in quoted literals are therefore decoded as bytes: valid UTF-8 becomes
//! the characters themselves (ASCII stays escaped, so a `\x22` cannot end the literal),
//! and each byte that is not valid UTF-8 becomes a private-use stand-in character
//! (U+10FE00 + byte) that no label name accepts and [`go_quote`] prints back as `\xNN`.
//!
//! ```text
//!  query text ──normalize: "\xc3\xbf" → "ÿ", "\xff" → U+10FEFF──▶ promql-parser ──▶ Expr
//! ```

use std::borrow::Cow;

use promql_parser::parser::Expr;

/// Where the stand-ins for invalid bytes start.
const INVALID_BYTE_BASE: u32 = 0x10_FE00;

/// Parses `query` like Prometheus (see the module docs for string literals).
pub fn parse_query(query: &str) -> Result<Expr, String> {
    promql_parser::parser::parse(&normalize(query))
}

/// Whether `s` holds a byte that was not valid UTF-8 in the query text.
pub(crate) fn has_invalid_bytes(s: &str) -> bool {
    s.chars().any(|c| invalid_byte(c).is_some())
}

/// `s` quoted like Go's `%q` for messages, stand-ins printed as `\xNN`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    push_escaped(s, &mut out, |c, out| out.extend(c.escape_debug()));
    out.push('"');
    out
}

/// `s` as Go's `%s` prints it: stand-ins as the `\xNN` they were written as.
pub(crate) fn go_raw(s: &str) -> String {
    let mut out = String::new();
    push_escaped(s, &mut out, |c, out| out.push(c));
    out
}

fn push_escaped(s: &str, out: &mut String, other: impl Fn(char, &mut String)) {
    for c in s.chars() {
        match invalid_byte(c) {
            Some(b) => out.push_str(&format!("\\x{b:02x}")),
            None => other(c, out),
        }
    }
}

fn invalid_byte(c: char) -> Option<u8> {
    u32::from(c)
        .checked_sub(INVALID_BYTE_BASE)
        .and_then(|b| u8::try_from(b).ok())
}

/// The query with byte escapes in quoted literals decoded as Go decodes them.
fn normalize(query: &str) -> Cow<'_, str> {
    if !query.contains('\\') {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    let mut chars = query.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        match c {
            '#' => {
                // A comment runs to the end of the line.
                while let Some((_, c)) = chars.next_if(|&(_, c)| c != '\n') {
                    out.push(c);
                }
            }
            '`' => {
                // Raw strings have no escapes.
                for (_, c) in chars.by_ref() {
                    out.push(c);
                    if c == '`' {
                        break;
                    }
                }
            }
            '"' | '\'' => {
                let quote = c;
                let mut bytes: Vec<u8> = Vec::new();
                while let Some((i, c)) = chars.next() {
                    if c == '\\' {
                        if let Some((b, len)) = byte_escape(&query[i..]) {
                            bytes.push(b);
                            for _ in 1..len {
                                chars.next();
                            }
                            continue;
                        }
                        flush(&mut bytes, &mut out);
                        out.push(c);
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                        continue;
                    }
                    flush(&mut bytes, &mut out);
                    out.push(c);
                    if c == quote || c == '\n' {
                        break;
                    }
                }
                flush(&mut bytes, &mut out);
            }
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// A `\xNN` or `\NNN` (octal) escape at the start of `s`: the byte and the escape's
/// length in characters (all ASCII).
fn byte_escape(s: &str) -> Option<(u8, usize)> {
    let b = s.as_bytes();
    match b.get(1)? {
        b'x' => {
            let hex = s.get(2..4)?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            hex.bytes().all(|c| c.is_ascii_hexdigit()).then_some((v, 4))
        }
        b'0'..=b'7' => {
            let oct = s.get(1..4)?;
            if !oct.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
                return None;
            }
            u8::try_from(u32::from_str_radix(oct, 8).ok()?)
                .ok()
                .map(|v| (v, 4))
        }
        _ => None,
    }
}

/// Writes decoded bytes into the literal: ASCII as `\xNN` (so quotes and backslashes
/// keep their meaning), other valid UTF-8 as itself, invalid bytes as stand-ins.
fn flush(bytes: &mut Vec<u8>, out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push(char::from_u32(INVALID_BYTE_BASE + u32::from(*b)).expect("a valid char"));
        }
    }
    bytes.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_arg(query: &str) -> String {
        match parse_query(query).unwrap() {
            Expr::StringLiteral(s) => s.val,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn byte_escapes_are_bytes_like_in_go() {
        assert_eq!(string_arg(r#""\xc3\xbf""#), "ÿ");
        assert_eq!(string_arg(r#""\303\277x""#), "ÿx");
        assert_eq!(string_arg(r#""a\x22b""#), "a\"b");
        assert_eq!(string_arg(r#"'\x41\n'"#), "A\n");
        assert_eq!(string_arg(r#""\u00ff""#), "ÿ");
        assert_eq!(
            string_arg("`\\xff`"),
            "\\xff",
            "raw strings keep backslashes"
        );
        let invalid = string_arg(r#""a\xc5z""#);
        assert!(has_invalid_bytes(&invalid));
        assert_eq!(go_quote(&invalid), r#""a\xc5z""#);
        assert!(!has_invalid_bytes("ÿ"));
    }

    #[test]
    fn text_outside_literals_is_untouched() {
        let q = "sum by (job) (rate(x{a=\"\\\\x41\"}[5m])) # \"\\xff\n";
        assert_eq!(normalize(q), q);
        assert_eq!(normalize("up"), "up");
        assert!(parse_query("up{").is_err());
    }
}
