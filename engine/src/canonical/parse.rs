//! Strict JSON parsing into `serde_json::Value`.
//!
//! serde_json on its own keeps the last of two duplicate keys and reads `1.5` as a float, so
//! the document is driven through a custom `DeserializeSeed` that records the first protocol
//! violation it meets and stops. serde_json still does the lexing, string unescaping and
//! surrogate checks.

use super::error::CanonicalError;
use super::number_scan::{find_non_integer_number, NumberIssue};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

/// Deepest nesting of arrays and objects accepted. An intent nests four levels and its free-form
/// `params` need a few more; 32 keeps the recursive parser and canonicalizer far from stack
/// limits (serde_json's own limit is 128).
pub const NESTING_DEPTH_MAX: usize = 32;

/// Largest integer magnitude accepted, 2^53 − 1: the I-JSON (RFC 7493) range that every JSON
/// implementation, including JavaScript's, reads exactly.
pub const SAFE_INTEGER_MAX: u64 = (1 << 53) - 1;

/// Parses `bytes` as one JSON value under the protocol's rules.
///
/// Rejects invalid UTF-8, invalid JSON, trailing content, duplicate keys, float tokens
/// (anything with `.`, `e` or `E`), `-0`, integers outside ±[`SAFE_INTEGER_MAX`] and nesting
/// deeper than [`NESTING_DEPTH_MAX`]. The returned value holds only integers as numbers.
pub fn parse_json(bytes: &[u8]) -> Result<Value, CanonicalError> {
    if let Err(error) = std::str::from_utf8(bytes) {
        return Err(CanonicalError::InvalidUtf8 {
            offset: error.valid_up_to(),
        });
    }

    let violation = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = ValueSeed {
        depth: 0,
        violation: &violation,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));

    match parsed {
        Ok(value) => Ok(value),
        Err(error) => Err(match violation.take() {
            Some(found) => found.into_error(bytes, &error),
            None => CanonicalError::Syntax {
                message: error.to_string(),
            },
        }),
    }
}

/// The first rule a document broke, recorded by the visitor before it aborts.
enum Violation {
    DuplicateKey(String),
    /// A number that is not a safe integer: a float token, `-0`, or an integer outside
    /// ±2^53 − 1. The source text tells which, and where.
    UnusualNumber,
    TooDeep,
}

impl Violation {
    fn into_error(self, bytes: &[u8], error: &serde_json::Error) -> CanonicalError {
        let (line, column) = (error.line(), error.column());
        match self {
            Violation::DuplicateKey(key) => CanonicalError::DuplicateKey { key, line, column },
            Violation::TooDeep => CanonicalError::TooDeep {
                depth_max: NESTING_DEPTH_MAX,
                line,
                column,
            },
            Violation::UnusualNumber => classify_number(bytes, line, column),
        }
    }
}

/// Finds the number token the visitor stopped at. serde_json reads tokens in document order and
/// the visitor stops at the first number that is not a safe integer, so the first such token in
/// the text is that one.
fn classify_number(bytes: &[u8], line: usize, column: usize) -> CanonicalError {
    match find_non_integer_number(bytes) {
        Some(found) => match found.issue {
            NumberIssue::Float => CanonicalError::FloatNotAllowed {
                token: found.token,
                line: found.line,
                column: found.column,
            },
            NumberIssue::OutOfRange => CanonicalError::IntegerOutOfRange {
                token: found.token,
                line: found.line,
                column: found.column,
            },
            NumberIssue::NegativeZero => CanonicalError::NegativeZero {
                line: found.line,
                column: found.column,
            },
        },
        // Unreachable for text serde_json accepted up to this point; report a float at
        // serde_json's position rather than panic.
        None => CanonicalError::FloatNotAllowed {
            token: String::new(),
            line,
            column,
        },
    }
}

/// Builds one JSON value at nesting level `depth`, recording the first violation.
struct ValueSeed<'a> {
    depth: usize,
    violation: &'a Cell<Option<Violation>>,
}

impl<'a> ValueSeed<'a> {
    fn fail<E: de::Error>(&self, violation: Violation, message: &str) -> E {
        self.violation.set(Some(violation));
        E::custom(message)
    }

    fn child(&self) -> ValueSeed<'a> {
        ValueSeed {
            depth: self.depth + 1,
            violation: self.violation,
        }
    }

    fn enter_container<E: de::Error>(&self) -> Result<(), E> {
        if self.depth >= NESTING_DEPTH_MAX {
            return Err(self.fail(Violation::TooDeep, "nesting too deep"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        if value > SAFE_INTEGER_MAX {
            return Err(self.fail(Violation::UnusualNumber, "integer out of range"));
        }
        Ok(Value::Number(Number::from(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        if value.unsigned_abs() > SAFE_INTEGER_MAX {
            return Err(self.fail(Violation::UnusualNumber, "integer out of range"));
        }
        Ok(Value::Number(Number::from(value)))
    }

    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Value, E> {
        Err(self.fail(Violation::UnusualNumber, "number is not an integer"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter_container()?;

        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child())? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.enter_container()?;

        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(self.fail(Violation::DuplicateKey(key), "duplicate key"));
            }
            let value = map.next_value_seed(self.child())?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_integers_strings_and_nesting() {
        let value = parse_json(br#"{"a":[1,-2,{"b":"x"}],"c":null,"d":true}"#).unwrap();
        assert_eq!(value["a"][1], Value::from(-2));
        assert_eq!(value["a"][2]["b"], Value::from("x"));
    }

    #[test]
    fn rejects_float_tokens_with_position() {
        for text in ["1.0", "[1e3]", "{\"a\":\n 2E-1}", "[0.5]"] {
            let error = parse_json(text.as_bytes()).unwrap_err();
            assert!(
                matches!(error, CanonicalError::FloatNotAllowed { .. }),
                "{text}: {error:?}"
            );
        }
        let error = parse_json(b"{\"a\":\n 2E-1}").unwrap_err();
        assert_eq!(
            error,
            CanonicalError::FloatNotAllowed {
                token: "2E-1".into(),
                line: 2,
                column: 2
            }
        );
    }

    #[test]
    fn float_inside_string_is_fine() {
        let value = parse_json(br#"{"amount":"1.5e3","n":3}"#).unwrap();
        assert_eq!(value["amount"], Value::from("1.5e3"));
    }

    #[test]
    fn integer_range_is_i_json() {
        assert!(parse_json(b"9007199254740991").is_ok());
        assert!(parse_json(b"-9007199254740991").is_ok());
        for text in [
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551616",
            "-99999999999999999999",
        ] {
            let error = parse_json(text.as_bytes()).unwrap_err();
            let expected = CanonicalError::IntegerOutOfRange {
                token: text.into(),
                line: 1,
                column: 1,
            };
            assert_eq!(error, expected, "{text}");
        }
    }

    #[test]
    fn negative_zero_is_rejected() {
        let error = parse_json(b"[-0]").unwrap_err();
        assert!(matches!(error, CanonicalError::NegativeZero { .. }), "{error:?}");
    }

    #[test]
    fn duplicate_keys_are_rejected_after_unescaping() {
        let error = parse_json(br#"{"a":1,"\u0061":2}"#).unwrap_err();
        assert!(
            matches!(&error, CanonicalError::DuplicateKey { key, .. } if key == "a"),
            "{error:?}"
        );
        let nested = parse_json(br#"{"x":{"k":1,"k":1}}"#).unwrap_err();
        assert!(matches!(nested, CanonicalError::DuplicateKey { .. }));
    }

    #[test]
    fn nesting_limit_is_enforced() {
        let ok = "[".repeat(NESTING_DEPTH_MAX) + &"]".repeat(NESTING_DEPTH_MAX);
        assert!(parse_json(ok.as_bytes()).is_ok());
        let deep = "[".repeat(NESTING_DEPTH_MAX + 1) + &"]".repeat(NESTING_DEPTH_MAX + 1);
        let error = parse_json(deep.as_bytes()).unwrap_err();
        assert!(matches!(error, CanonicalError::TooDeep { .. }), "{error:?}");
        let very_deep = "{\"a\":".repeat(10_000);
        assert!(parse_json(very_deep.as_bytes()).is_err());
    }

    #[test]
    fn syntax_errors_and_bad_utf8() {
        for text in [&b"{"[..], b"[1,]", b"{\"a\" 1}", b"1 2", b"\"\\ud800\"", b"'a'", b""] {
            let error = parse_json(text).unwrap_err();
            assert!(matches!(error, CanonicalError::Syntax { .. }), "{error:?}");
        }
        let error = parse_json(b"\"a\xff\"").unwrap_err();
        assert_eq!(error, CanonicalError::InvalidUtf8 { offset: 2 });
    }
}
