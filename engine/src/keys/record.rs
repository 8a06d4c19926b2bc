//! One registered agent key and its lifecycle.

use crate::crypto::PublicKey;
use serde::{Deserialize, Serialize};

/// An `allowed_actors` entry that lets the key sign for any actor of its tenant.
pub const ANY_ACTOR: &str = "*";

/// Longest key id accepted, in bytes; key ids are stored in every audit record.
pub const KID_LEN_MAX: usize = 128;

/// Whether a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// The key may sign, inside its validity window.
    Active,
    /// The key may never sign again; revocation is final.
    Revoked,
}

impl KeyStatus {
    /// Returns the wire string, `"active"` or `"revoked"`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// A registered agent key. Records are immutable once shared: the registry replaces a record
/// with an updated copy, so a reader always sees one consistent version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Key id, unique across tenants; certificates name it in `kid`.
    pub kid: String,
    /// The only tenant the key may sign for.
    pub tenant: String,
    /// The ed25519 public key, strictly parsed.
    pub public_key: PublicKey,
    /// Actor ids the key may sign for; [`ANY_ACTOR`] allows every actor of the tenant, and an
    /// empty list allows none.
    pub allowed_actors: Vec<String>,
    /// Active or revoked.
    pub status: KeyStatus,
    /// Start of validity, Unix milliseconds (inclusive); no lower bound when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// End of validity, Unix milliseconds (exclusive); no upper bound when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<i64>,
    /// When the key was registered, Unix milliseconds.
    pub created_at: i64,
    /// When the key was revoked, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// The key this one replaced in a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The key that replaced this one in a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
}

impl KeyRecord {
    /// Creates an active record whose kid is derived from the public key, with no validity
    /// bounds.
    pub fn new(
        tenant: impl Into<String>,
        public_key: PublicKey,
        allowed_actors: Vec<String>,
        created_at: i64,
    ) -> KeyRecord {
        KeyRecord {
            kid: public_key.derive_kid(),
            tenant: tenant.into(),
            public_key,
            allowed_actors,
            status: KeyStatus::Active,
            not_before: None,
            not_after: None,
            created_at,
            revoked_at: None,
            replaces: None,
            replaced_by: None,
        }
    }

    /// Returns true if the key may sign for `actor_id`.
    pub fn allows_actor(&self, actor_id: &str) -> bool {
        self.allowed_actors
            .iter()
            .any(|allowed| allowed == ANY_ACTOR || allowed == actor_id)
    }
}
