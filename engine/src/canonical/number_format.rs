//! The ECMAScript `Number.prototype.toString` form that RFC 8785 prescribes for numbers.
//!
//! The protocol rejects float tokens, so parsed documents never reach this code. It exists so
//! that [`super::canonicalize`] is total over every `serde_json::Value`, including values built
//! in code.

/// Formats a finite `f64` as ECMAScript does (ECMA-262, Number::toString): the shortest digits
/// that read back as the same value, in plain notation for decimal exponents from -6 to 20 and
/// in exponent notation (`1e+30`, `1.5e-7`) outside it. `-0` is written `0`. Non-finite values,
/// which serde_json never stores, are written `null`.
pub fn format_ecmascript_number(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    if value < 0.0 {
        return format!("-{}", format_ecmascript_number(-value));
    }

    // Rust's `{:e}` prints the shortest round-trip digits, for example `3.333333333333333e8`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some(parts) => parts,
        None => return scientific,
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);

    // ECMA-262 names: the value is 0.digits × 10^point, with `count` significant digits.
    let count = digits.len() as i64;
    let point = exponent + 1;

    if count <= point && point <= 21 {
        let zeros = "0".repeat((point - count) as usize);
        return format!("{digits}{zeros}");
    }
    if 0 < point && point <= 21 {
        let (whole, fraction) = digits.split_at(point as usize);
        return format!("{whole}.{fraction}");
    }
    if -6 < point && point <= 0 {
        let zeros = "0".repeat((-point) as usize);
        return format!("0.{zeros}{digits}");
    }

    let sign = if point - 1 < 0 { '-' } else { '+' };
    let magnitude = (point - 1).abs();
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        format!("{first}e{sign}{magnitude}")
    } else {
        format!("{first}.{rest}e{sign}{magnitude}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::excessive_precision,
        reason = "the RFC 8785 example number is written as the RFC gives it"
    )]
    fn matches_ecmascript_for_known_values() {
        let cases: [(f64, &str); 14] = [
            (333333333.33333329, "333333333.3333333"),
            (1e30, "1e+30"),
            (4.50, "4.5"),
            (2e-3, "0.002"),
            (0.000000000000000000000000001, "1e-27"),
            (-0.0, "0"),
            (1.0, "1"),
            (-5.0, "-5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123456789012345680000.0, "123456789012345680000"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_ecmascript_number(value), expected, "{value:e}");
        }
    }
}
