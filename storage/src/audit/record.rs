//! The stored form of an audit record and its hash.
//!
//! A record's value is `record hash (32 bytes) ‖ body JSON`. The hash is SHA-256 over
//! [`RECORD_HASH_PREFIX`] followed by the exact body bytes, so it never depends on how JSON is
//! re-serialized, and the body carries the previous record's hash, which chains the records.

use super::crypto::KEY_ID_BYTES;
use super::entry::{RecordBody, RECORD_FORMAT};
use crate::error::StorageError;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Domain-separation prefix of the record hash, so a record hash can never be mistaken for
/// another SHA-256 the engine computes.
pub const RECORD_HASH_PREFIX: &[u8] = b"axiom.audit.record.v1\0";

/// The previous-record hash of the first record of every chain.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// Computes the record hash of a body's stored bytes.
pub fn record_hash(body_bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_HASH_PREFIX);
    hasher.update(body_bytes);
    hasher.finalize().into()
}

/// Encodes a body into its stored value; returns the value and the record hash.
pub fn encode_record(body: &RecordBody) -> Result<(Vec<u8>, [u8; 32]), StorageError> {
    let body_bytes = serde_json::to_vec(body).map_err(|source| StorageError::Encode {
        what: "audit record",
        source,
    })?;
    let hash = record_hash(&body_bytes);

    let mut value = Vec::with_capacity(32 + body_bytes.len());
    value.extend_from_slice(&hash);
    value.extend_from_slice(&body_bytes);
    Ok((value, hash))
}

/// A record body in the pieces the writer thread has: the decision fields arrive already
/// encoded by the caller, and the personal data already sealed.
pub(crate) struct BodyParts<'a> {
    pub shard: u32,
    pub seq: u64,
    pub prev_hash: &'a [u8; 32],
    /// `serde_json` encoding of the record's `DecisionFields`.
    pub decision_json: &'a [u8],
    pub subject_ref: &'a [u8; 32],
    pub key_id: &'a [u8; KEY_ID_BYTES],
    pub nonce: &'a [u8; 12],
    pub ciphertext: &'a [u8],
}

/// Encodes a body from its parts into its stored value; returns the value and the record hash.
///
/// The bytes are exactly those [`encode_record`] writes for the same body: the fields in
/// declaration order, compact, and hex strings, which need no escaping. Writing them directly
/// spares the writer thread a clone of the decision fields and a second JSON pass over them.
pub(crate) fn encode_record_parts(parts: &BodyParts<'_>) -> (Vec<u8>, [u8; 32]) {
    let hex_bytes = 2 * (32 + 32 + KEY_ID_BYTES + 12 + parts.ciphertext.len());
    let mut value = Vec::with_capacity(32 + 192 + parts.decision_json.len() + hex_bytes);
    value.extend_from_slice(&[0u8; 32]);

    // Writing into a Vec cannot fail, so the `write!` results are ignored.
    let _ = write!(
        value,
        r#"{{"format":{RECORD_FORMAT},"shard":{},"seq":{},"prev_hash":""#,
        parts.shard, parts.seq
    );
    push_hex(&mut value, parts.prev_hash);
    value.extend_from_slice(br#"","decision":"#);
    value.extend_from_slice(parts.decision_json);
    value.extend_from_slice(br#","personal":{"subject_ref":""#);
    push_hex(&mut value, parts.subject_ref);
    value.extend_from_slice(br#"","key_id":""#);
    push_hex(&mut value, parts.key_id);
    value.extend_from_slice(br#"","nonce":""#);
    push_hex(&mut value, parts.nonce);
    value.extend_from_slice(br#"","ciphertext":""#);
    push_hex(&mut value, parts.ciphertext);
    value.extend_from_slice(br#""}}"#);

    let hash = record_hash(&value[32..]);
    value[..32].copy_from_slice(&hash);
    (value, hash)
}

/// Appends the lowercase hex of `bytes`.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    // The slice is exactly twice as long as the input, the only case where this fails.
    let _ = hex::encode_to_slice(bytes, &mut out[start..]);
}

/// A stored record split into its parts, before any integrity judgement.
#[derive(Debug, Clone)]
pub struct DecodedRecord {
    /// The hash stored in front of the body.
    pub stored_hash: [u8; 32],
    /// The hash recomputed from the body bytes.
    pub computed_hash: [u8; 32],
    /// The body.
    pub body: RecordBody,
}

impl DecodedRecord {
    /// True when the stored hash matches the body.
    pub fn hash_matches(&self) -> bool {
        self.stored_hash == self.computed_hash
    }
}

/// Why a stored value could not be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndecodableRecord {
    /// The value is shorter than its hash.
    TooShort {
        /// The value's length, in bytes.
        length: usize,
    },
    /// The body is not a valid record body; the string is the JSON error.
    BadBody(String),
}

impl std::fmt::Display for UndecodableRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndecodableRecord::TooShort { length } => {
                write!(f, "value is {length} bytes, shorter than its 32-byte hash")
            }
            UndecodableRecord::BadBody(error) => write!(f, "body does not decode: {error}"),
        }
    }
}

/// Splits a stored value into hash and body and recomputes the hash.
pub fn decode_record(value: &[u8]) -> Result<DecodedRecord, UndecodableRecord> {
    let (Some(hash_bytes), Some(body_bytes)) = (value.get(..32), value.get(32..)) else {
        return Err(UndecodableRecord::TooShort {
            length: value.len(),
        });
    };
    let mut stored_hash = [0u8; 32];
    stored_hash.copy_from_slice(hash_bytes);
    let computed_hash = record_hash(body_bytes);

    let body = serde_json::from_slice(body_bytes)
        .map_err(|error| UndecodableRecord::BadBody(error.to_string()))?;
    Ok(DecodedRecord {
        stored_hash,
        computed_hash,
        body,
    })
}

/// Decodes a record and checks it against its key: the read-side integrity check.
pub fn decode_checked(shard: u32, seq: u64, value: &[u8]) -> Result<DecodedRecord, StorageError> {
    let what = || format!("audit record shard {shard} seq {seq}");
    let record =
        decode_record(value).map_err(|error| StorageError::corrupt(what(), error.to_string()))?;
    if !record.hash_matches() {
        return Err(StorageError::corrupt(
            what(),
            "record hash does not match its body",
        ));
    }
    if record.body.shard != shard || record.body.seq != seq {
        return Err(StorageError::corrupt(
            what(),
            format!(
                "body claims shard {} seq {}",
                record.body.shard, record.body.seq
            ),
        ));
    }
    Ok(record)
}

/// Parses a lowercase hex hash of 32 bytes.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audit::entry::{DecisionFields, SealedPersonal};
    use axiom_engine::model::{ReasonCode, Verdict};

    fn decision(sequence: Option<u64>) -> DecisionFields {
        DecisionFields {
            decision_id: "d-\"quoted\"-\u{e9}".into(),
            tenant: "acme\\corp".into(),
            kid: "kid\n1".into(),
            cert_id: "cert-\u{1F600}".into(),
            nonce: String::new(),
            expires_at: -5,
            sequence,
            sequence_stream: sequence.map(|_| "ab".repeat(16)),
            policy_set_id: None,
            intent_hash: "cd".repeat(32),
            verdict: Verdict::Escrow,
            reason_code: ReasonCode::Ok,
            time_ms: i64::MAX,
            escrow_id: Some("esc-\t1".into()),
            facts: serde_json::json!({"b": [1, 2.5, null], "a": "\u{0}"}),
            response: serde_json::json!({"verdict": "ESCROW"}),
        }
    }

    #[test]
    fn parts_encode_like_serde() {
        let cases = [
            (0, 0, decision(None), vec![]),
            (7, u64::MAX, decision(Some(u64::MAX)), vec![0xffu8; 45]),
            (u32::MAX, 12, decision(Some(0)), vec![0x01, 0xab]),
        ];
        for (shard, seq, decision, ciphertext) in cases {
            let prev_hash = [0x5au8; 32];
            let subject_ref = [0x0fu8; 32];
            let key_id = [0xf0u8; KEY_ID_BYTES];
            let nonce = [0x11u8; 12];
            let body = RecordBody {
                format: RECORD_FORMAT,
                shard,
                seq,
                prev_hash: hex::encode(prev_hash),
                decision: decision.clone(),
                personal: SealedPersonal {
                    subject_ref: hex::encode(subject_ref),
                    key_id: hex::encode(key_id),
                    nonce: hex::encode(nonce),
                    ciphertext: hex::encode(&ciphertext),
                },
            };
            let decision_json = serde_json::to_vec(&decision).unwrap();

            let (value, hash) = encode_record_parts(&BodyParts {
                shard,
                seq,
                prev_hash: &prev_hash,
                decision_json: &decision_json,
                subject_ref: &subject_ref,
                key_id: &key_id,
                nonce: &nonce,
                ciphertext: &ciphertext,
            });

            let (expected_value, expected_hash) = encode_record(&body).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&value[32..]),
                String::from_utf8_lossy(&expected_value[32..])
            );
            assert_eq!(value, expected_value);
            assert_eq!(hash, expected_hash);
            assert_eq!(decode_checked(shard, seq, &value).unwrap().body, body);
        }
    }
}
