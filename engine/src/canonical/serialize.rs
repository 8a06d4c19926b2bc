//! RFC 8785 (JCS) canonical serialization.

use super::number_format::format_ecmascript_number;
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// Returns the RFC 8785 canonical form of `value`.
///
/// Object members are sorted by the UTF-16 code units of their keys, strings use the minimal
/// JSON escaping of RFC 8785, no whitespace is written, and integers are written in plain
/// decimal. Values from [`super::parse_json`] hold only integers; a float built in code is
/// written in the ECMAScript form RFC 8785 prescribes.
pub fn canonicalize(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    canonicalize_into(value, &mut out);
    out
}

/// Appends the RFC 8785 canonical form of `value` to `out`.
pub fn canonicalize_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                canonicalize_into(item, out);
            }
            out.push(b']');
        }
        Value::Object(object) => {
            let mut members: Vec<(&String, &Value)> = object.iter().collect();
            members.sort_by(|(left, _), (right, _)| compare_utf16(left, right));

            out.push(b'{');
            for (position, (key, member)) in members.into_iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                canonicalize_into(member, out);
            }
            out.push(b'}');
        }
    }
}

/// Orders two strings by their UTF-16 code units, as RFC 8785 sorts object keys. This differs
/// from byte order for characters above U+FFFF against characters in U+E000..U+FFFF.
pub fn compare_utf16(left: &str, right: &str) -> Ordering {
    left.encode_utf16().cmp(right.encode_utf16())
}

fn write_number(number: &Number, out: &mut Vec<u8>) {
    if let Some(unsigned) = number.as_u64() {
        out.extend_from_slice(unsigned.to_string().as_bytes());
    } else if let Some(signed) = number.as_i64() {
        out.extend_from_slice(signed.to_string().as_bytes());
    } else if let Some(float) = number.as_f64() {
        out.extend_from_slice(format_ecmascript_number(float).as_bytes());
    }
}

/// Writes a JSON string with RFC 8785 escaping: `"` and `\` escaped, the control characters
/// with a short form (`\b \t \n \f \r`) use it, other control characters use `\u00xx` with
/// lowercase hex, and every other character is written as UTF-8.
fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX_DIGITS[usize::from(byte >> 4)]);
                out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
            }
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical_text(value: &Value) -> String {
        String::from_utf8(canonicalize(value)).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let value = json!({"b": [1, {"z": null, "a": true}], "a": "x"});
        assert_eq!(canonical_text(&value), r#"{"a":"x","b":[1,{"a":true,"z":null}]}"#);
    }

    #[test]
    fn escapes_control_characters_only() {
        let value = json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f}\"\\/\u{7f}\u{2028}é");
        assert_eq!(
            canonical_text(&value),
            "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\\"\\\\/\u{7f}\u{2028}é\""
        );
    }

    #[test]
    fn keys_sort_by_utf16_not_bytes() {
        // U+1F600 is D83D DE00 in UTF-16, below U+FB33; in UTF-8 it sorts after.
        let value = json!({"\u{fb33}": 1, "\u{1f600}": 2});
        assert_eq!(canonical_text(&value), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn integers_are_plain_decimal() {
        let value = json!([0, -1, 9007199254740991_u64, u64::MAX, i64::MIN]);
        assert_eq!(
            canonical_text(&value),
            "[0,-1,9007199254740991,18446744073709551615,-9223372036854775808]"
        );
    }
}
