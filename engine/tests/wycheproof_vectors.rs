//! Every Project Wycheproof ed25519 verification vector through the engine's own path:
//! strict public key parsing, then strict verification.
//!
//! The project's rule is strict ed25519. A public key must be 32 bytes, canonically encoded,
//! on the curve and not of small order. `s` must be below the group order, and `R` must be
//! canonical and not of small order. No vector's expected result conflicts with that rule, so
//! every vector is checked and none is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::crypto::{verify_strict, PublicKey};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VectorFile {
    number_of_tests: usize,
    test_groups: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestGroup {
    public_key: GroupKey,
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
struct GroupKey {
    pk: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestCase {
    tc_id: u32,
    comment: String,
    msg: String,
    sig: String,
    result: String,
}

/// Finds `shared/testdata` next to the repository checkout, walking up from the crate.
fn testdata_dir() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .map(|dir| dir.join("shared").join("testdata"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| panic!("no shared/testdata above {}", manifest_dir.display()))
}

#[test]
fn wycheproof_ed25519_vectors_match() {
    let path = testdata_dir().join("wycheproof").join("ed25519_test.json");
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let file: VectorFile = serde_json::from_slice(&text).unwrap();

    let mut checked = 0;
    let mut failures = Vec::new();
    for group in &file.test_groups {
        let key_bytes = hex::decode(&group.public_key.pk).unwrap();
        let public_key = PublicKey::from_bytes(&key_bytes);

        for case in &group.tests {
            checked += 1;
            let message = hex::decode(&case.msg).unwrap();
            let signature = hex::decode(&case.sig).unwrap();

            // A key that fails strict parsing verifies nothing.
            let accepted = match &public_key {
                Ok(key) => verify_strict(key, &message, &signature).is_ok(),
                Err(_) => false,
            };
            let expected = match case.result.as_str() {
                "valid" => true,
                "invalid" => false,
                // Strict verification rejects what Wycheproof calls "acceptable"
                // (legacy-tolerated) signatures.
                "acceptable" => false,
                other => panic!("tcId {}: unknown result `{other}`", case.tc_id),
            };
            if accepted != expected {
                failures.push(format!(
                    "tcId {} ({}): expected {}, got {}",
                    case.tc_id,
                    case.comment,
                    case.result,
                    if accepted { "accepted" } else { "rejected" }
                ));
            }
        }
    }

    assert_eq!(checked, file.number_of_tests, "vector count differs from the file header");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
