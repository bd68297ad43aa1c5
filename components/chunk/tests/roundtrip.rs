//! Property tests of the public API: round trips over arbitrary timestamps and value
//! bit patterns, appending after `from_bytes`, and decoding garbage without panics.

use cairn_chunk::{decode, XorChunk, XorIter};
use cairn_model::{Sample, STALE_NAN};
use proptest::collection::vec;
use proptest::prelude::*;

/// Values that are easy to get wrong: NaNs with various payloads (the stale marker
/// among them), infinities, signed zeros, the extremes, subnormals.
const SPECIAL: [f64; 16] = [
    f64::NAN,
    STALE_NAN,
    f64::from_bits(0xFFF8_0000_0000_0000), // -NaN
    f64::from_bits(0x7FF8_0000_0000_0001), // quiet NaN with a payload
    f64::from_bits(0xFFFF_FFFF_FFFF_FFFF), // NaN, all bits set
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -0.0,
    f64::MIN,
    f64::MAX,
    f64::MIN_POSITIVE,
    f64::from_bits(1),                     // smallest subnormal
    f64::from_bits(0x000F_FFFF_FFFF_FFFF), // largest subnormal
    f64::from_bits(0x8000_0000_0000_0001), // negative subnormal
    1.0,
];

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        2 => prop::sample::select(SPECIAL.to_vec()),
        2 => (0u32..1000).prop_map(f64::from), // counter-like: few distinct values
        1 => any::<f64>(),
    ]
}

/// Strictly increasing timestamps, from anywhere in the `i64` range (negative ones
/// and the ends included), with steps from scrape jitter to nearly the whole range.
fn timestamps() -> impl Strategy<Value = Vec<i64>> {
    let start = prop_oneof![
        3 => any::<i64>(),
        1 => Just(i64::MIN),
        1 => Just(-1i64),
        1 => Just(1_700_000_000_000i64),
        1 => (0i64..1_000_000).prop_map(|d| i64::MAX - d),
    ];
    let step = prop_oneof![
        4 => 14_990u64..15_010,
        2 => 1u64..100,
        2 => 1u64..(1 << 21), // around the dod bucket edges
        1 => 1u64..=u64::MAX,
    ];
    (start, vec(step, 0..160)).prop_map(|(start, steps)| {
        let mut t = start;
        let mut out = vec![t];
        for step in steps {
            match i64::try_from(i128::from(t) + i128::from(step)) {
                Ok(next) => {
                    t = next;
                    out.push(t);
                }
                Err(_) => break,
            }
        }
        out
    })
}

fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
    (timestamps(), vec(value(), 161)).prop_map(|(ts, vs)| ts.into_iter().zip(vs).collect())
}

fn chunk_of(samples: &[(i64, f64)]) -> XorChunk {
    let mut c = XorChunk::new();
    for &(t, v) in samples {
        c.append(t, v);
    }
    c
}

fn bits(samples: impl IntoIterator<Item = Sample>) -> Vec<(i64, u64)> {
    samples.into_iter().map(|s| (s.t, s.v.to_bits())).collect()
}

fn expected_bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Exercises every reading entry point; none may panic.
fn poke(bytes: &[u8]) {
    let decoded = decode(bytes);
    let mut it = XorIter::new(bytes);
    let seen = it.by_ref().count();
    assert_eq!(it.err().is_some(), decoded.is_err());
    if let Ok(samples) = &decoded {
        assert_eq!(samples.len(), seen);
    }
    let mut it = XorIter::new(bytes);
    let _ = it.seek(0);
    let _ = it.next();
    if let Ok(mut chunk) = XorChunk::from_bytes(bytes.to_vec()) {
        // Anything from_bytes accepts can be appended to and still decodes, with the
        // old samples first.
        let before = bits(chunk.iter());
        if !chunk.is_full() {
            let t = chunk.last_time().map_or(0, |t| t.wrapping_add(1));
            chunk.append(t, 42.0);
            let after = bits(decode(chunk.bytes()).expect("decodes after append"));
            assert_eq!(&after[..before.len()], &before[..]);
            assert_eq!(after.last(), Some(&(t, 42.0f64.to_bits())));
        }
    }
}

proptest! {
    #[test]
    fn round_trip_is_bit_exact(samples in samples()) {
        let chunk = chunk_of(&samples);
        prop_assert_eq!(chunk.num_samples(), samples.len());
        prop_assert_eq!(chunk.first_time(), samples.first().map(|s| s.0));
        prop_assert_eq!(chunk.last_time(), samples.last().map(|s| s.0));
        let want = expected_bits(&samples);
        prop_assert_eq!(bits(decode(chunk.bytes()).unwrap()), want.clone());
        prop_assert_eq!(bits(chunk.iter()), want);
        prop_assert_eq!(XorChunk::from_bytes(chunk.bytes().to_vec()).unwrap(), chunk);
    }

    #[test]
    fn unordered_timestamps_still_round_trip(samples in vec((any::<i64>(), value()), 0..100)) {
        // Not a supported input, but Prometheus's wrapping arithmetic makes any
        // sequence encodable; we must agree with it rather than panic.
        let chunk = chunk_of(&samples);
        prop_assert_eq!(bits(decode(chunk.bytes()).unwrap()), expected_bits(&samples));
    }

    #[test]
    fn from_bytes_then_append_equals_appending_at_once(
        samples in samples(),
        split in any::<prop::sample::Index>(),
    ) {
        let split = split.index(samples.len() + 1);
        let mut chunk = XorChunk::from_bytes(chunk_of(&samples[..split]).into_bytes()).unwrap();
        for &(t, v) in &samples[split..] {
            chunk.append(t, v);
        }
        prop_assert_eq!(chunk, chunk_of(&samples));
    }

    #[test]
    fn seek_returns_the_first_sample_at_or_after_the_target(
        samples in samples(),
        target in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX)],
        nudge in -2i64..=2,
    ) {
        // Aim near real timestamps too, not only between them.
        let target = samples
            .get(usize::try_from(target.unsigned_abs() % 200).unwrap_or(0))
            .map_or(target, |s| s.0.saturating_add(nudge));
        let chunk = chunk_of(&samples);
        let mut it = chunk.iter();
        let at = samples.iter().position(|s| s.0 >= target);
        let found = it.seek(target);
        prop_assert_eq!(found.map(|s| s.t), at.map(|i| samples[i].0));
        let rest = bits(it);
        prop_assert_eq!(rest, expected_bits(&samples[at.unwrap_or(samples.len())..]));
    }

    #[test]
    fn garbage_never_panics(bytes in vec(any::<u8>(), 0..600)) {
        poke(&bytes);
    }

    #[test]
    fn garbage_with_a_plausible_header_never_panics(
        count in 0u16..40,
        body in vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = count.to_be_bytes().to_vec();
        bytes.extend(body);
        poke(&bytes);
    }

    #[test]
    fn truncated_chunks_are_errors(samples in samples(), cut in any::<prop::sample::Index>()) {
        let bytes = chunk_of(&samples).into_bytes();
        let len = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..len]).is_err());
        prop_assert!(XorChunk::from_bytes(bytes[..len].to_vec()).is_err());
    }

    #[test]
    fn corrupted_chunks_never_panic(
        samples in samples(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = chunk_of(&samples).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        poke(&bytes);
    }
}

#[test]
fn special_values_round_trip_in_every_order() {
    for (i, a) in SPECIAL.iter().enumerate() {
        let samples: Vec<(i64, f64)> = SPECIAL
            .iter()
            .cycle()
            .skip(i)
            .take(SPECIAL.len() + 1)
            .chain([a, a])
            .enumerate()
            .map(|(t, &v)| (t as i64 * 15_000 - 1_000_000, v))
            .collect();
        let chunk = chunk_of(&samples);
        assert_eq!(
            bits(decode(chunk.bytes()).unwrap()),
            expected_bits(&samples)
        );
    }
}

#[test]
fn extreme_timestamp_pairs_round_trip() {
    let cases: &[&[i64]] = &[
        &[i64::MIN, i64::MAX],
        &[i64::MIN, i64::MIN + 1, i64::MAX],
        &[i64::MIN, 0, i64::MAX],
        &[-1, 0, 1],
        &[i64::MAX - 2, i64::MAX - 1, i64::MAX],
        &[i64::MIN, i64::MIN + 1, i64::MIN + 2],
    ];
    for ts in cases {
        let samples: Vec<(i64, f64)> = ts.iter().map(|&t| (t, STALE_NAN)).collect();
        let chunk = chunk_of(&samples);
        assert_eq!(
            bits(decode(chunk.bytes()).unwrap()),
            expected_bits(&samples),
            "{ts:?}"
        );
    }
}
