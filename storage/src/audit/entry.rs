//! What the engine hands to the audit log, what is stored, and what a reader gets back.

use axiom_engine::model::{ReasonCode, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The data subject whose personal data a record holds: an actor of a tenant. Erasure works per
/// subject, so the same actor id in two tenants is two subjects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubjectId {
    /// The tenant.
    pub tenant: String,
    /// The actor id within the tenant.
    pub actor_id: String,
}

impl SubjectId {
    /// Builds a subject id.
    pub fn new(tenant: impl Into<String>, actor_id: impl Into<String>) -> SubjectId {
        SubjectId {
            tenant: tenant.into(),
            actor_id: actor_id.into(),
        }
    }
}

/// The public fields of one decision, stored in clear so the chain can be verified and
/// replay state rebuilt without any subject key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionFields {
    /// Unique id of the decision, the key of `GET /v1/audit/{decision_id}`.
    pub decision_id: String,
    /// The tenant.
    pub tenant: String,
    /// Id of the agent key that signed the certificate.
    pub kid: String,
    /// The certificate id.
    pub cert_id: String,
    /// The certificate nonce.
    pub nonce: String,
    /// End of the certificate's validity, Unix milliseconds.
    pub expires_at: i64,
    /// The certificate's sequence number, when it has one.
    pub sequence: Option<u64>,
    /// Opaque id of the sequence stream (kid, tenant, actor, policy set), computed by the engine
    /// as a hex string so that no actor id appears in clear. Present with `sequence`.
    pub sequence_stream: Option<String>,
    /// The policy set the server selected, when one was.
    pub policy_set_id: Option<String>,
    /// Hex SHA-256 of the canonical intent.
    pub intent_hash: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The reason code.
    pub reason_code: ReasonCode,
    /// When the decision was made, Unix milliseconds, never negative.
    pub time_ms: i64,
    /// The escrow created, for ESCROW verdicts.
    pub escrow_id: Option<String>,
    /// Snapshot of the server-side facts the decision used (source ages, budgets …).
    pub facts: Value,
    /// The response sent to the agent.
    pub response: Value,
}

/// Personal data of a decision. It is encrypted under the subject's key before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalData {
    /// The actor id.
    pub actor_id: String,
    /// The operation parameters, free-form and so possibly personal.
    pub params: Value,
}

/// One decision to append to the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Which chain the record joins; the engine uses the shard that decided.
    pub shard: u32,
    /// The public fields.
    pub decision: DecisionFields,
    /// The personal data; its subject is `(decision.tenant, personal.actor_id)`.
    pub personal: PersonalData,
}

impl AuditEntry {
    /// The subject whose key encrypts this entry's personal data.
    pub fn subject(&self) -> SubjectId {
        SubjectId::new(&self.decision.tenant, &self.personal.actor_id)
    }
}

/// Proof that a record is durable: it was written and fsynced before this was returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReceipt {
    /// The decision the record belongs to.
    pub decision_id: String,
    /// Its chain.
    pub shard: u32,
    /// Its position in the chain, starting at 0.
    pub seq: u64,
    /// Hex SHA-256 of the stored record.
    pub record_hash: String,
}

/// Personal data as stored: ChaCha20-Poly1305 ciphertext under one subject key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPersonal {
    /// Hex HMAC-SHA256 of the subject id under the store's index key.
    pub subject_ref: String,
    /// Hex id of the subject key that encrypted this record.
    pub key_id: String,
    /// Hex 96-bit AEAD nonce, random per record.
    pub nonce: String,
    /// Hex ciphertext with its 16-byte tag; the decision id is the associated data.
    pub ciphertext: String,
}

/// The stored body of an audit record. The record hash is SHA-256 over a domain prefix and the
/// exact stored bytes of this body, so the chain verifies without any subject key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordBody {
    /// Layout version of the body, [`RECORD_FORMAT`].
    pub format: u32,
    /// The chain.
    pub shard: u32,
    /// Position in the chain, starting at 0, without gaps.
    pub seq: u64,
    /// Hex hash of the previous record of this shard; 64 zeros for seq 0.
    pub prev_hash: String,
    /// The public fields.
    pub decision: DecisionFields,
    /// The encrypted personal data.
    pub personal: SealedPersonal,
}

/// Current [`RecordBody::format`].
pub const RECORD_FORMAT: u32 = 1;

/// The personal part of a record as read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PersonalView {
    /// Decrypted with the subject's key.
    Readable {
        /// The actor id.
        actor_id: String,
        /// The operation parameters.
        params: Value,
    },
    /// The subject's key was erased, so the data can no longer be decrypted.
    Erased,
}

/// An audit record as read back: public fields in clear, personal data decrypted or marked
/// erased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The chain.
    pub shard: u32,
    /// Position in the chain.
    pub seq: u64,
    /// Hex hash of this record.
    pub record_hash: String,
    /// Hex hash of the previous record of this shard.
    pub prev_hash: String,
    /// The public fields.
    pub decision: DecisionFields,
    /// The personal data, or the erased marker.
    pub personal: PersonalView,
}
