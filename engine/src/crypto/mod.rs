//! Domain-separated hashes, ed25519 signatures and key files.
//!
//! The byte layouts here are the protocol: the intent hash, the certificate signing input and
//! the receipt signing input are each a fixed ASCII prefix followed by RFC 8785 canonical JSON
//! (see `docs/PROTOCOL.md`). Verification is strict ed25519 throughout.

mod agent_key;
mod domain;
mod encoding;
mod engine_key;
mod key_pair;
mod public_key;

pub use agent_key::{AgentKey, CertificateOptions, SignError, CERTIFICATE_TTL_MS_DEFAULT, NONCE_BYTES_DEFAULT};
pub use domain::{
    certificate_signing_input, intent_hash, intent_hash_hex, receipt_signing_input,
    CERTIFICATE_SIGNING_PREFIX, INTENT_HASH_PREFIX, RECEIPT_SIGNING_PREFIX,
};
pub use encoding::{base64url_decode, base64url_encode, EncodingError};
pub use engine_key::{receipt_body, verify_receipt, EngineKey, ReceiptError};
pub use key_pair::{KeyFile, KeyFileError, KeyPair, PublicKeyFile};
pub use public_key::{derive_kid, verify_strict, PublicKey, PublicKeyError, SignatureError, KID_PREFIX};
