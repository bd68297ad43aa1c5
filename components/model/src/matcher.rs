use std::fmt;

use regex::Regex;

use crate::ModelError;

/// The four PromQL/StoreAPI matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

impl MatchOp {
    /// The PromQL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Regex => "=~",
            Self::NotRegex => "!~",
        }
    }
}

/// Selects series by one label. A missing label matches as the empty string, so
/// `foo=""` selects series without `foo`, as in Prometheus.
#[derive(Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or regex source as written.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling regexes anchored at both ends like Prometheus.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, ModelError> {
        let (name, value) = (name.into(), value.into());
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(crate::regex_compat::anchored_regex(&value).map_err(|e| {
                    ModelError::InvalidRegex {
                        label: name.clone(),
                        pattern: value.clone(),
                        reason: e.to_string(),
                    }
                })?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Self {
            name,
            op,
            value,
            regex,
        })
    }

    /// An `=` matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (or `""` for a missing label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (MatchOp::Regex | MatchOp::NotRegex, None) => unreachable!("regex compiled in new"),
        }
    }

    /// Whether the matcher selects series that lack the label entirely.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_operators() {
        let eq = Matcher::equal("job", "api");
        let ne = Matcher::new(MatchOp::NotEqual, "job", "api").unwrap();
        let re = Matcher::new(MatchOp::Regex, "job", "a.*").unwrap();
        let nre = Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap();
        assert!(eq.matches("api") && !eq.matches("apix"));
        assert!(ne.matches("web") && !ne.matches("api"));
        assert!(re.matches("api") && !re.matches("xapi"));
        assert!(nre.matches("web") && !nre.matches("api"));
    }

    #[test]
    fn regex_is_anchored_and_matches_newlines_with_dot() {
        let re = Matcher::new(MatchOp::Regex, "a", "b|c").unwrap();
        assert!(re.matches("b") && re.matches("c") && !re.matches("bc"));
        let dot = Matcher::new(MatchOp::Regex, "a", ".*").unwrap();
        assert!(dot.matches("x\ny") && dot.matches_empty());
    }

    #[test]
    fn invalid_regex_is_a_clear_error() {
        let err = Matcher::new(MatchOp::Regex, "job", "(").unwrap_err();
        assert!(err.to_string().contains("job"), "{err}");
    }
}
