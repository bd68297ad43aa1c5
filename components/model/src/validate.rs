//! Prometheus's classic rules for what a series may look like.

use crate::{Labels, METRIC_NAME};

/// Why a series' labels are not acceptable. The message names the problem; callers add
/// which series it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The series has no labels at all.
    #[error("series has no labels")]
    Empty,
    /// No `__name__` label.
    #[error("series has no metric name")]
    MissingMetricName,
    /// `__name__` is not a valid metric name.
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
    /// A label name is not valid.
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A label has an empty value.
    #[error("label {0:?} has an empty value")]
    EmptyValue(String),
    /// A label value is not valid UTF-8 (only reachable from raw bytes).
    #[error("label {0:?} has a value that is not valid UTF-8")]
    InvalidUtf8(String),
    /// Label names are not sorted.
    #[error("labels are not sorted by name: {0:?} comes after {1:?}")]
    Unsorted(String, String),
    /// The same label name twice.
    #[error("duplicate label name {0:?}")]
    Duplicate(String),
}

/// Whether `name` matches `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` matches `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks label pairs exactly as they arrived on the wire (before any sorting):
/// non-empty, a valid metric name, valid label names, no empty values, sorted by name
/// and unique.
pub fn wire_labels<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), LabelError> {
    let mut prev: Option<&str> = None;
    let mut has_name = false;
    let mut count = 0usize;
    for (name, value) in pairs {
        count += 1;
        if name == METRIC_NAME {
            has_name = true;
            if !is_valid_metric_name(value) {
                return Err(LabelError::InvalidMetricName(value.to_owned()));
            }
        } else if !is_valid_label_name(name) {
            return Err(LabelError::InvalidLabelName(name.to_owned()));
        }
        if value.is_empty() {
            return Err(LabelError::EmptyValue(name.to_owned()));
        }
        if let Some(p) = prev {
            match p.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(LabelError::Duplicate(name.to_owned())),
                std::cmp::Ordering::Greater => {
                    return Err(LabelError::Unsorted(name.to_owned(), p.to_owned()))
                }
            }
        }
        prev = Some(name);
    }
    if count == 0 {
        return Err(LabelError::Empty);
    }
    if !has_name {
        return Err(LabelError::MissingMetricName);
    }
    Ok(())
}

/// [`wire_labels`] for an already-built label set.
pub fn series(labels: &Labels) -> Result<(), LabelError> {
    wire_labels(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_and_label_name_rules() {
        assert!(is_valid_metric_name("http_requests_total"));
        assert!(is_valid_metric_name("job:rate5m"));
        assert!(!is_valid_metric_name("0abc"));
        assert!(!is_valid_metric_name("a-b"));
        assert!(!is_valid_metric_name(""));
        assert!(is_valid_label_name("_x1"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name("1a"));
    }

    #[test]
    fn wire_label_checks_name_every_problem() {
        let ok = [("__name__", "up"), ("job", "a")];
        assert_eq!(wire_labels(ok), Ok(()));
        assert_eq!(wire_labels([]), Err(LabelError::Empty));
        assert_eq!(
            wire_labels([("job", "a")]),
            Err(LabelError::MissingMetricName)
        );
        assert_eq!(
            wire_labels([("__name__", "up"), ("job", "a"), ("a", "b")]),
            Err(LabelError::Unsorted("a".into(), "job".into()))
        );
        assert_eq!(
            wire_labels([("__name__", "up"), ("a", "1"), ("a", "2")]),
            Err(LabelError::Duplicate("a".into()))
        );
        assert_eq!(
            wire_labels([("__name__", "up"), ("a", "")]),
            Err(LabelError::EmptyValue("a".into()))
        );
        assert_eq!(
            wire_labels([("__name__", "up"), ("a-b", "1")]),
            Err(LabelError::InvalidLabelName("a-b".into()))
        );
        assert_eq!(
            wire_labels([("__name__", "1up")]),
            Err(LabelError::InvalidMetricName("1up".into()))
        );
    }
}
