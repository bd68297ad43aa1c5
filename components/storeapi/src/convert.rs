//! Conversions between protobuf messages and model types.

use cairn_model::{Label, Labels, MatchOp, Matcher};
use cairn_proto::{prometheus, thanos};

use crate::StoreApiError;

/// StoreAPI matchers to model matchers (compiling regexes).
pub fn matchers_from_proto(ms: &[thanos::LabelMatcher]) -> Result<Vec<Matcher>, StoreApiError> {
    ms.iter()
        .map(|m| {
            let op = match thanos::label_matcher::Type::try_from(m.r#type) {
                Ok(thanos::label_matcher::Type::Eq) => MatchOp::Equal,
                Ok(thanos::label_matcher::Type::Neq) => MatchOp::NotEqual,
                Ok(thanos::label_matcher::Type::Re) => MatchOp::Regex,
                Ok(thanos::label_matcher::Type::Nre) => MatchOp::NotRegex,
                Err(_) => {
                    return Err(StoreApiError::InvalidRequest(format!(
                        "unknown matcher type {} for label {:?}",
                        m.r#type, m.name
                    )))
                }
            };
            Matcher::new(op, &m.name, &m.value)
                .map_err(|e| StoreApiError::InvalidRequest(e.to_string()))
        })
        .collect()
}

/// Model matchers to StoreAPI matchers.
pub fn matchers_to_proto(ms: &[Matcher]) -> Vec<thanos::LabelMatcher> {
    ms.iter()
        .map(|m| thanos::LabelMatcher {
            r#type: match m.op {
                MatchOp::Equal => thanos::label_matcher::Type::Eq,
                MatchOp::NotEqual => thanos::label_matcher::Type::Neq,
                MatchOp::Regex => thanos::label_matcher::Type::Re,
                MatchOp::NotRegex => thanos::label_matcher::Type::Nre,
            } as i32,
            name: m.name.clone(),
            value: m.value.clone(),
        })
        .collect()
}

/// Model labels to StoreAPI labels.
pub fn labels_to_proto(labels: &Labels) -> Vec<thanos::Label> {
    labels
        .iter()
        .map(|l| thanos::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

/// StoreAPI labels to model labels. Sorts if a peer sent them unsorted.
pub fn labels_from_proto(labels: Vec<thanos::Label>) -> Labels {
    let mut v: Vec<Label> = labels
        .into_iter()
        .map(|l| Label::new(l.name, l.value))
        .collect();
    if !v.windows(2).all(|w| w[0].name < w[1].name) {
        return Labels::from_pairs(v.into_iter().map(|l| (l.name, l.value)));
    }
    v.shrink_to_fit();
    Labels::from_sorted(v)
}

/// Remote-write labels to model labels. The caller has validated them as sorted and
/// unique (see `cairn_model::validate::wire_labels`).
pub fn labels_from_remote_write(labels: Vec<prometheus::Label>) -> Labels {
    Labels::from_sorted(
        labels
            .into_iter()
            .map(|l| Label::new(l.name, l.value))
            .collect(),
    )
}

/// Model labels to remote-write labels.
pub fn labels_to_remote_write(labels: &Labels) -> Vec<prometheus::Label> {
    labels
        .iter()
        .map(|l| prometheus::Label {
            name: l.name.clone(),
            value: l.value.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_round_trip_through_proto() {
        let ms = vec![
            Matcher::equal("__name__", "up"),
            Matcher::new(MatchOp::NotEqual, "a", "1").unwrap(),
            Matcher::new(MatchOp::Regex, "b", "x|y").unwrap(),
            Matcher::new(MatchOp::NotRegex, "c", ".+").unwrap(),
        ];
        assert_eq!(matchers_from_proto(&matchers_to_proto(&ms)).unwrap(), ms);
    }

    #[test]
    fn bad_regex_from_a_peer_is_an_invalid_request() {
        let m = thanos::LabelMatcher {
            r#type: thanos::label_matcher::Type::Re as i32,
            name: "a".into(),
            value: "(".into(),
        };
        assert!(matches!(
            matchers_from_proto(&[m]),
            Err(StoreApiError::InvalidRequest(_))
        ));
    }

    #[test]
    fn unsorted_peer_labels_are_sorted() {
        let l = labels_from_proto(vec![
            thanos::Label {
                name: "b".into(),
                value: "2".into(),
            },
            thanos::Label {
                name: "a".into(),
                value: "1".into(),
            },
        ]);
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
    }
}
