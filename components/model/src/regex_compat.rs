//! Regular expressions with Prometheus's (Go RE2) meaning, compiled by Rust's `regex`.
//!
//! The two engines agree on almost all syntax, but Go makes the Perl classes `\d \w \s`
//! and word boundaries `\b \B` ASCII-only where Rust makes them Unicode-aware, and Go
//! accepts `\Q…\E` literal quoting. Patterns are rewritten to the ASCII forms before
//! compiling, so a selector selects the same series on Cairn as on Prometheus.

use regex::Regex;

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\f\r ";

/// Compiles `pattern` fully anchored and with `.` matching newlines, as Prometheus
/// compiles matcher and `label_replace` regexes.
pub fn anchored_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{})$", translate(pattern)))
}

/// Rewrites Go-only or Go-meaning constructs into equivalent Rust regex syntax.
pub fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    // Depth of `[...]` nesting (Rust allows nested classes; Go's POSIX `[:x:]` too).
    let mut class_depth = 0usize;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let class =
                    |set: &str, negated: bool| format!("[{}{set}]", if negated { "^" } else { "" });
                match e {
                    'd' | 'D' => out.push_str(&class(DIGIT, e == 'D')),
                    'w' | 'W' => out.push_str(&class(WORD, e == 'W')),
                    's' | 'S' => out.push_str(&class(SPACE, e == 'S')),
                    'b' if class_depth == 0 => out.push_str(r"(?-u:\b)"),
                    'B' if class_depth == 0 => out.push_str(r"(?-u:\B)"),
                    'Q' if class_depth == 0 => {
                        let mut literal = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            literal.push(q);
                        }
                        out.push_str(&regex::escape(&literal));
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            '[' if class_depth > 0 && chars.peek() == Some(&':') => {
                // A POSIX class such as [:alpha:] inside a bracket expression.
                out.push('[');
                for p in chars.by_ref() {
                    out.push(p);
                    if p == ']' {
                        break;
                    }
                }
            }
            '[' => {
                class_depth += 1;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            ']' if class_depth > 0 && !at_class_start => {
                class_depth -= 1;
                out.push(']');
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        anchored_regex(pattern).unwrap().is_match(text)
    }

    #[test]
    fn perl_classes_and_boundaries_are_ascii_like_go() {
        assert!(is_match(r"\d+", "123"));
        assert!(!is_match(r"\d+", "١٢٣"));
        assert!(!is_match(r"\w+", "é"));
        assert!(is_match(r"\w+", "x_1"));
        assert!(is_match(r"\D+", "١٢٣"));
        assert!(is_match(r"[\d.]+", "1.5"));
        assert!(!is_match(r"[\d]+", "١"));
        assert!(is_match(r"a\sb", "a b"));
        assert!(is_match(r".*\bcödé.*", "ünïcödé/日本語"));
    }

    #[test]
    fn quoted_literals_and_classes_survive() {
        assert!(is_match(r"\Q/api/v1/query\E", "/api/v1/query"));
        assert!(is_match(r"\Qa.b", "a.b"));
        assert!(!is_match(r"\Qa.b\E", "axb"));
        assert!(is_match(r"[]a]+", "]a"));
        assert!(is_match(r"[^]a]+", "bc"));
        assert!(is_match(r"[[:alpha:]]+", "abc"));
        assert!(is_match(r"ünï.*", "ünïcode"));
        assert!(is_match(r"a|b", "b"));
    }
}
