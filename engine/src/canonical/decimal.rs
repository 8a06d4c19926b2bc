//! Strict parsing of exact decimals sent as JSON strings, such as amounts of money.

use rust_decimal::Decimal;
use thiserror::Error;

/// Longest decimal text accepted, in characters: a sign, 28 digits (rust_decimal's precision)
/// and a point, with room to spare.
pub const DECIMAL_TEXT_LEN_MAX: usize = 40;

/// Why a decimal string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    /// The text is not `-?digits(.digits)?`.
    #[error(
        "invalid decimal `{text}`: expected digits with an optional leading `-` and an \
         optional fraction, such as \"-123.45\", without exponent, spaces or `+`"
    )]
    Syntax {
        /// The text as received.
        text: String,
    },
    /// The text is longer than [`DECIMAL_TEXT_LEN_MAX`].
    #[error("decimal text is {len} characters long; the limit is {DECIMAL_TEXT_LEN_MAX}")]
    TooLong {
        /// Length of the text, in bytes.
        len: usize,
    },
    /// The value has more significant digits than an exact 96-bit decimal holds.
    #[error("decimal `{text}` has more than 28 significant digits")]
    OutOfRange {
        /// The text as received.
        text: String,
    },
}

/// Parses an exact decimal: an optional `-`, one or more digits (no leading zeros except a
/// single `0`), and an optional `.` followed by one or more digits. No exponent, `+`, spaces,
/// or leading or trailing point, so each value has few spellings and none is a binary float.
pub fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    if text.len() > DECIMAL_TEXT_LEN_MAX {
        return Err(DecimalError::TooLong { len: text.len() });
    }
    if !has_decimal_syntax(text) {
        return Err(DecimalError::Syntax {
            text: text.to_owned(),
        });
    }
    Decimal::from_str_exact(text).map_err(|_| DecimalError::OutOfRange {
        text: text.to_owned(),
    })
}

fn has_decimal_syntax(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };

    let whole_is_valid = !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && (whole == "0" || !whole.starts_with('0'));
    let fraction_is_valid = fraction
        .is_none_or(|digits| !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()));
    whole_is_valid && fraction_is_valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn accepts_plain_decimals() {
        for (text, expected) in [
            ("0", "0"),
            ("123.45", "123.45"),
            ("-0.01", "-0.01"),
            ("10000", "10000"),
            ("0.50", "0.50"),
        ] {
            assert_eq!(parse_decimal(text), Ok(Decimal::from_str(expected).unwrap()), "{text}");
        }
        assert_eq!(parse_decimal("0.50").unwrap().scale(), 2);
    }

    #[test]
    fn rejects_other_spellings() {
        for text in [
            "", "-", "+1", "1e3", "1E3", " 1", "1 ", ".5", "5.", "01", "1.2.3", "0x10", "1,5",
            "NaN", "--1", "١",
        ] {
            assert!(
                matches!(parse_decimal(text), Err(DecimalError::Syntax { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_too_long_and_too_precise() {
        let long = "1".repeat(DECIMAL_TEXT_LEN_MAX + 1);
        assert!(matches!(parse_decimal(&long), Err(DecimalError::TooLong { .. })));
        let precise = "1".repeat(30);
        assert!(matches!(parse_decimal(&precise), Err(DecimalError::OutOfRange { .. })));
    }
}
