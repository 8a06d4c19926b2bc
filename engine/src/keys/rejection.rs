//! Why a key may not sign a given request.

use crate::model::ReasonCode;
use thiserror::Error;

/// Why a key lookup failed. Every case is `KEY_INVALID` on the wire; the variant is the detail.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyRejection {
    /// No key is registered under the kid.
    #[error("key `{kid}` is not registered")]
    Unknown {
        /// The kid from the certificate.
        kid: String,
    },
    /// The key was revoked.
    #[error("key `{kid}` was revoked at {revoked_at_ms} (Unix ms)")]
    Revoked {
        /// The kid.
        kid: String,
        /// When it was revoked, Unix milliseconds.
        revoked_at_ms: i64,
    },
    /// The request time is before the key's `not_before`.
    #[error("key `{kid}` is not valid before {not_before_ms} (Unix ms)")]
    NotYetValid {
        /// The kid.
        kid: String,
        /// Start of validity, Unix milliseconds.
        not_before_ms: i64,
    },
    /// The request time is at or after the key's `not_after`.
    #[error("key `{kid}` expired at {not_after_ms} (Unix ms)")]
    Expired {
        /// The kid.
        kid: String,
        /// End of validity, Unix milliseconds.
        not_after_ms: i64,
    },
    /// The key belongs to another tenant. The key's own tenant is not named, so a probe
    /// learns nothing about other tenants.
    #[error("key `{kid}` is not registered for tenant `{tenant}`")]
    WrongTenant {
        /// The kid.
        kid: String,
        /// The tenant the intent names.
        tenant: String,
    },
    /// The key may not sign for this actor.
    #[error("key `{kid}` is not allowed to sign for actor `{actor_id}`")]
    ActorNotAllowed {
        /// The kid.
        kid: String,
        /// The actor the intent names.
        actor_id: String,
    },
}

impl KeyRejection {
    /// Returns the reason code for every key rejection, `KEY_INVALID`.
    pub fn reason_code(&self) -> ReasonCode {
        ReasonCode::KeyInvalid
    }
}
