//! The RFC 8785 reference input/output pairs through the engine's parser and canonicalizer.
//!
//! Inputs without float tokens must canonicalize to the expected bytes exactly. Inputs with
//! float tokens must be rejected with the float error, because the protocol sends decimals as
//! strings. Their expected output is still compared with the number formatting that
//! `canonicalize` applies to floats built in code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::canonical::{canonicalize, format_ecmascript_number, parse_json, CanonicalError};
use std::path::{Path, PathBuf};

fn testdata_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .map(|dir| dir.join("shared").join("testdata"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| panic!("no shared/testdata above {}", manifest_dir.display()))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Returns true if the JSON text has a number token with a fraction or exponent outside strings.
fn has_float_token(text: &[u8]) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    let mut in_number = false;
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                in_number = false;
            }
            b'0'..=b'9' | b'-' => in_number = true,
            b'.' | b'e' | b'E' if in_number => return true,
            b'+' if in_number => {}
            _ => in_number = false,
        }
    }
    false
}

#[test]
fn rfc8785_pairs_canonicalize_or_reject_floats() {
    let jcs_dir = testdata_dir().join("jcs");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(jcs_dir.join("input"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 6, "expected the six RFC 8785 inputs, found {}", inputs.len());

    let mut canonical_count = 0;
    let mut float_count = 0;
    for input_path in &inputs {
        let name = input_path.file_name().unwrap();
        let input = read(input_path);
        let expected = read(&jcs_dir.join("output").join(name));
        let expected = expected.strip_suffix(b"\n").unwrap_or(&expected);

        if has_float_token(&input) {
            float_count += 1;
            let error = parse_json(&input).unwrap_err();
            assert!(
                matches!(error, CanonicalError::FloatNotAllowed { .. }),
                "{name:?}: expected the float error, got {error:?}"
            );
        } else {
            canonical_count += 1;
            let value = parse_json(&input)
                .unwrap_or_else(|error| panic!("{name:?}: parse failed: {error}"));
            let canonical = canonicalize(&value);
            assert_eq!(
                String::from_utf8_lossy(&canonical),
                String::from_utf8_lossy(expected),
                "{name:?}"
            );
        }
    }
    assert_eq!(float_count, 2, "values.json and structures.json carry floats");
    assert_eq!(canonical_count, inputs.len() - 2);
}

/// Returns the text between `"numbers":` and the closing bracket, split into number tokens.
fn number_tokens(text: &str) -> Vec<String> {
    let start = text.find("\"numbers\"").unwrap();
    let open = start + text[start..].find('[').unwrap();
    let close = open + text[open..].find(']').unwrap();
    text[open + 1..close]
        .split(',')
        .map(|token| token.trim().to_owned())
        .collect()
}

#[test]
fn float_values_format_as_rfc8785() {
    let jcs_dir = testdata_dir().join("jcs");

    // structures.json has only 56.0, which serde_json reads exactly.
    let input = read(&jcs_dir.join("input").join("structures.json"));
    let expected = read(&jcs_dir.join("output").join("structures.json"));
    let expected = expected.strip_suffix(b"\n").unwrap_or(&expected);
    let value: serde_json::Value = serde_json::from_slice(&input).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&canonicalize(&value)),
        String::from_utf8_lossy(expected)
    );

    // serde_json's default float reader may be one ulp off (its `float_roundtrip` feature is
    // off), so the numbers of values.json are read with Rust's exact parser instead.
    let input = String::from_utf8(read(&jcs_dir.join("input").join("values.json"))).unwrap();
    let expected = String::from_utf8(read(&jcs_dir.join("output").join("values.json"))).unwrap();
    let formatted: Vec<String> = number_tokens(&input)
        .iter()
        .map(|token| format_ecmascript_number(token.parse::<f64>().unwrap()))
        .collect();
    assert_eq!(formatted, number_tokens(&expected));
}

#[test]
fn canonical_output_parses_back_to_itself() {
    let jcs_dir = testdata_dir().join("jcs");
    for name in ["arrays.json", "french.json", "unicode.json", "weird.json"] {
        let expected = read(&jcs_dir.join("output").join(name));
        let expected = expected.strip_suffix(b"\n").unwrap_or(&expected).to_vec();
        let value = parse_json(&expected).unwrap();
        assert_eq!(canonicalize(&value), expected, "{name}");
    }
}
