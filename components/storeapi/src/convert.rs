//! Conversions between protobuf messages and model types.

use cairn_model::{Label, Labels, MatchOp, Matcher};
use cairn_proto::{prometheus, thanos};

use cairn_chunk::Encoding;

use crate::{Aggregate, RawAggregates, RawChunk, StoreApiError};

fn encoded_chunk(encoding: Encoding, data: Vec<u8>) -> thanos::Chunk {
    thanos::Chunk {
        r#type: encoding.storeapi_number(),
        data,
        hash: 0,
    }
}

fn xor_chunk(data: Vec<u8>) -> thanos::Chunk {
    encoded_chunk(Encoding::Xor, data)
}

fn xor_data(c: Option<thanos::Chunk>) -> Option<Vec<u8>> {
    c.filter(|c| c.r#type == thanos::chunk::Encoding::Xor as i32)
        .map(|c| c.data)
}

/// A chunk to its StoreAPI form: `raw` for raw samples, the aggregate fields for a
/// downsampled chunk.
pub fn chunk_to_proto(c: RawChunk) -> thanos::AggrChunk {
    let mut out = thanos::AggrChunk {
        min_time: c.min_time,
        max_time: c.max_time,
        ..Default::default()
    };
    match c.aggregates {
        None => out.raw = Some(encoded_chunk(c.encoding, c.data)),
        Some(a) => {
            let [count, sum, min, max, counter] = a.0;
            out.count = count.map(xor_chunk);
            out.sum = sum.map(xor_chunk);
            out.min = min.map(xor_chunk);
            out.max = max.map(xor_chunk);
            out.counter = counter.map(xor_chunk);
        }
    }
    out
}

/// A StoreAPI chunk to a [`RawChunk`]; `None` when it holds nothing Cairn can decode
/// (an unknown encoding, or downsampled native histograms).
pub fn chunk_from_proto(c: thanos::AggrChunk) -> Option<RawChunk> {
    if let Some(raw) = c.raw {
        let encoding = Encoding::from_storeapi_number(raw.r#type)?;
        return Some(RawChunk::raw(encoding, c.min_time, c.max_time, raw.data));
    }
    let aggregates = RawAggregates([
        xor_data(c.count),
        xor_data(c.sum),
        xor_data(c.min),
        xor_data(c.max),
        xor_data(c.counter),
    ]);
    if aggregates.0.iter().all(Option::is_none) {
        return None;
    }
    Some(RawChunk::downsampled(c.min_time, c.max_time, aggregates))
}

/// StoreAPI aggregate codes to [`Aggregate`]s; `RAW` and unknown codes are dropped
/// since raw chunks are always sent whole.
pub fn aggregates_from_proto(codes: &[i32]) -> Vec<Aggregate> {
    codes
        .iter()
        .filter_map(|&c| match thanos::Aggr::try_from(c) {
            Ok(thanos::Aggr::Count) => Some(Aggregate::Count),
            Ok(thanos::Aggr::Sum) => Some(Aggregate::Sum),
            Ok(thanos::Aggr::Min) => Some(Aggregate::Min),
            Ok(thanos::Aggr::Max) => Some(Aggregate::Max),
            Ok(thanos::Aggr::Counter) => Some(Aggregate::Counter),
            Ok(thanos::Aggr::Raw) | Err(_) => None,
        })
        .collect()
}

/// [`Aggregate`]s to StoreAPI aggregate codes.
pub fn aggregates_to_proto(aggrs: &[Aggregate]) -> Vec<i32> {
    aggrs
        .iter()
        .map(|a| match a {
            Aggregate::Count => thanos::Aggr::Count,
            Aggregate::Sum => thanos::Aggr::Sum,
            Aggregate::Min => thanos::Aggr::Min,
            Aggregate::Max => thanos::Aggr::Max,
            Aggregate::Counter => thanos::Aggr::Counter,
        } as i32)
        .collect()
}

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
    fn raw_and_downsampled_chunks_round_trip_through_proto() {
        let raw = RawChunk::xor(1, 2, vec![0, 1, 2]);
        assert_eq!(chunk_from_proto(chunk_to_proto(raw.clone())), Some(raw));
        let histograms = RawChunk::raw(Encoding::FloatHistogram, 1, 2, vec![0, 1, 2]);
        let proto = chunk_to_proto(histograms.clone());
        assert_eq!(proto.raw.as_ref().map(|c| c.r#type), Some(2));
        assert_eq!(chunk_from_proto(proto), Some(histograms));
        let unknown = thanos::AggrChunk {
            raw: Some(thanos::Chunk {
                r#type: 9,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(chunk_from_proto(unknown), None);
        let mut a = RawAggregates::default();
        a.set(Aggregate::Count, vec![0, 1, 7]);
        a.set(Aggregate::Counter, vec![0, 1, 9]);
        let down = RawChunk::downsampled(0, 300_000, a);
        let proto = chunk_to_proto(down.clone());
        assert!(proto.raw.is_none() && proto.sum.is_none() && proto.count.is_some());
        assert_eq!(chunk_from_proto(proto), Some(down));
        assert_eq!(chunk_from_proto(thanos::AggrChunk::default()), None);
    }

    #[test]
    fn aggregates_round_trip_and_raw_is_dropped() {
        let all = Aggregate::ALL.to_vec();
        assert_eq!(aggregates_from_proto(&aggregates_to_proto(&all)), all);
        assert_eq!(
            aggregates_from_proto(&[thanos::Aggr::Raw as i32, 99]),
            Vec::<Aggregate>::new()
        );
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
