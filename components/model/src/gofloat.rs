//! Float arithmetic and formatting that must behave exactly like Prometheus's Go code:
//! Kahan-Neumaier summation steps, the relative-tolerance comparison of its tests and
//! Go's `%g`.

use std::fmt::Write as _;

use crate::is_stale_nan;

/// One step of Kahan-Babuška (Neumaier) summation: adds `inc` to `sum`, accumulating the
/// rounding error in `c`. The new sum is always exactly `sum + inc`; the compensation is
/// reset when the sum overflows to ±Inf.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Whether `a` and `b` equal within relative `epsilon` the way Prometheus's tests
/// compare sample values (`almost.Equal`): a staleness marker equals only another one,
/// any two other NaNs are equal, and values near zero are compared absolutely against
/// `epsilon` times the smallest normal float.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// `v` as Go's `fmt` prints it with `%g`: the shortest representation that reads back
/// exactly, in exponent form (`1e+06`, `1.5e-05`) when the decimal exponent is below -4
/// or at least 6, with `+Inf`, `-Inf` and `NaN` for the special values.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_g() {
        // Values from Go's strconv.FormatFloat(f, 'g', -1, 64).
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (0.01, "0.01"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (-2.5, "-2.5"),
            (0.000123, "0.000123"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }
}
