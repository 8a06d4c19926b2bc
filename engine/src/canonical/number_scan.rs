//! A lexical scan for the first number token that is not a safe integer.
//!
//! serde_json hands a visitor an `f64` for float tokens, for `-0` and for integers beyond 64
//! bits alike. This scan reads the source text so that each case gets its own error.

use super::parse::SAFE_INTEGER_MAX;

/// What is wrong with a number token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumberIssue {
    /// The token has a fraction or an exponent.
    Float,
    /// The token is an integer outside ±`SAFE_INTEGER_MAX`.
    OutOfRange,
    /// The token is `-0`.
    NegativeZero,
}

/// A number token and its position (1-based line, 1-based byte column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundNumber {
    pub issue: NumberIssue,
    pub token: String,
    pub line: usize,
    pub column: usize,
}

/// Returns the first number token outside strings that is not a safe integer, if any.
/// The input is assumed to be JSON up to that token; the scan never fails.
pub(super) fn find_non_integer_number(bytes: &[u8]) -> Option<FoundNumber> {
    let mut index = 0;
    let mut line = 1;
    let mut line_start = 0;
    let mut in_string = false;

    while index < bytes.len() {
        let byte = bytes[index];

        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' => in_string = false,
                _ => {}
            }
            index += 1;
            continue;
        }

        match byte {
            b'"' => in_string = true,
            b'\n' => {
                line += 1;
                line_start = index + 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = index;
                while index < bytes.len() && is_number_byte(bytes[index]) {
                    index += 1;
                }
                let token = &bytes[start..index];
                if let Some(issue) = classify_token(token) {
                    return Some(FoundNumber {
                        issue,
                        token: String::from_utf8_lossy(token).into_owned(),
                        line,
                        column: start - line_start + 1,
                    });
                }
                continue;
            }
            _ => {}
        }
        index += 1;
    }
    None
}

fn is_number_byte(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

fn classify_token(token: &[u8]) -> Option<NumberIssue> {
    if token.iter().any(|byte| matches!(byte, b'.' | b'e' | b'E')) {
        return Some(NumberIssue::Float);
    }
    if token == b"-0" {
        return Some(NumberIssue::NegativeZero);
    }

    let digits = token.strip_prefix(b"-").unwrap_or(token);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        // Not a JSON number at all; serde_json reports that as a syntax error.
        return None;
    }
    // More than 16 digits always exceeds 2^53 − 1 (16 digits); checking length first keeps
    // the arithmetic below from overflowing.
    if digits.len() > 16 {
        return Some(NumberIssue::OutOfRange);
    }
    let magnitude = digits
        .iter()
        .fold(0u64, |sum, digit| sum * 10 + u64::from(digit - b'0'));
    (magnitude > SAFE_INTEGER_MAX).then_some(NumberIssue::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_numbers_inside_strings_and_escapes() {
        let text = br#"{"a\"1.5":"2.5","b":[1,2,3],"c":"\\","d":4.25}"#;
        let found = find_non_integer_number(text).unwrap();
        assert_eq!(found.issue, NumberIssue::Float);
        assert_eq!(found.token, "4.25");
    }

    #[test]
    fn reports_line_and_column() {
        let found = find_non_integer_number(b"[1,\n  2,\n  -0]").unwrap();
        assert_eq!(found.issue, NumberIssue::NegativeZero);
        assert_eq!((found.line, found.column), (3, 3));
    }

    #[test]
    fn safe_integers_are_not_reported() {
        assert_eq!(find_non_integer_number(b"[0,-1,9007199254740991]"), None);
        let found = find_non_integer_number(b"[9007199254740992]").unwrap();
        assert_eq!(found.issue, NumberIssue::OutOfRange);
    }
}
