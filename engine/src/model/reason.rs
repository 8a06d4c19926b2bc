//! The closed set of reason codes that accompany every verdict.
//!
//! Each code has exactly one meaning, documented on its variant. The string form (the
//! variant name in SCREAMING_SNAKE_CASE) is stable: it is part of the wire protocol, the
//! audit log, metrics labels and the operators' runbook, so a variant is never renamed.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a verdict was given. Serialized as its stable string, for example `"BAD_SIGNATURE"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    /// Every check passed and every axiom was proved.
    Ok,
    /// The frame or JSON could not be parsed, or a required field is missing or has the wrong type.
    MalformedRequest,
    /// The request frame is larger than the configured limit.
    RequestTooLarge,
    /// The JSON contains a floating-point number token; decimals must travel as strings.
    FloatNotAllowed,
    /// The certificate names an algorithm other than `ed25519`.
    UnsupportedAlgorithm,
    /// The key is unknown, revoked, outside its validity window, bound to another tenant,
    /// or not allowed to sign for this actor.
    KeyInvalid,
    /// The ed25519 signature over the certificate does not verify under strict rules.
    BadSignature,
    /// The certificate's `intent_hash` differs from the hash of the intent received.
    IntentHashMismatch,
    /// The certificate's `expires_at` is in the past, beyond the allowed clock skew.
    CertExpired,
    /// The certificate's `issued_at` is in the future, beyond the allowed clock skew.
    CertNotYetValid,
    /// The certificate's lifetime exceeds the acceptance TTL (a TTL of 0 rejects every certificate).
    CertTtlExceeded,
    /// The nonce was already used by an accepted certificate that has not yet expired.
    ReplayDetected,
    /// The certificate's `sequence` is not strictly above the last accepted one for its stream.
    SequenceReplay,
    /// The `idempotency_key` was used before by this actor for a different intent.
    IdempotencyConflict,
    /// The actor or tenant exceeded its rate limit; `retry_after_ms` says when to retry.
    RateLimited,
    /// A GDPR processing restriction is in force for the actor.
    SubjectRestricted,
    /// The tenant has no published policy for the target domain.
    PolicyNotFound,
    /// The certificate's `policy_set_id` differs from the policy the server selected.
    PolicySetMismatch,
    /// A required source is older than the allowed staleness.
    StateStale,
    /// A required source has never reported.
    StateUnknown,
    /// A policy axiom's `require` is violated.
    AxiomFail,
    /// A policy invariant is violated.
    InvariantViolated,
    /// An ABAC rule of the policy denies the action.
    AbacDenied,
    /// An axiom holds for some values in the uncertainty interval but not for all.
    Uncertain,
    /// The action matches the policy's `escrow when` condition and needs human approval.
    EscrowRequired,
    /// An action with side effects has no usable rollback plan, so it cannot be allowed directly.
    RollbackRequired,
    /// The certificate was deferred for longer than `MAX_DEFER_TOTAL_MS` after `issued_at`.
    DeferLimitEscrow,
    /// The solver pool is saturated or a proof timed out; retry later.
    SmtUnavailable,
    /// The action would be allowed, but no formal proof was made (SMT disabled).
    SmtNonFormal,
    /// Degraded mode (`DEGRADED_NO_ALLOW`) is on, so no action is allowed.
    DegradedMode,
    /// The engine is at a configured capacity limit (queue or memory cap); retry later.
    Overloaded,
    /// An internal failure prevented a decision; the request was not allowed.
    InternalError,
}

impl ReasonCode {
    /// Every reason code, in declaration order.
    pub const ALL: [ReasonCode; 32] = [
        ReasonCode::Ok,
        ReasonCode::MalformedRequest,
        ReasonCode::RequestTooLarge,
        ReasonCode::FloatNotAllowed,
        ReasonCode::UnsupportedAlgorithm,
        ReasonCode::KeyInvalid,
        ReasonCode::BadSignature,
        ReasonCode::IntentHashMismatch,
        ReasonCode::CertExpired,
        ReasonCode::CertNotYetValid,
        ReasonCode::CertTtlExceeded,
        ReasonCode::ReplayDetected,
        ReasonCode::SequenceReplay,
        ReasonCode::IdempotencyConflict,
        ReasonCode::RateLimited,
        ReasonCode::SubjectRestricted,
        ReasonCode::PolicyNotFound,
        ReasonCode::PolicySetMismatch,
        ReasonCode::StateStale,
        ReasonCode::StateUnknown,
        ReasonCode::AxiomFail,
        ReasonCode::InvariantViolated,
        ReasonCode::AbacDenied,
        ReasonCode::Uncertain,
        ReasonCode::EscrowRequired,
        ReasonCode::RollbackRequired,
        ReasonCode::DeferLimitEscrow,
        ReasonCode::SmtUnavailable,
        ReasonCode::SmtNonFormal,
        ReasonCode::DegradedMode,
        ReasonCode::Overloaded,
        ReasonCode::InternalError,
    ];

    /// Returns the stable wire string, for example `"REPLAY_DETECTED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Ok => "OK",
            ReasonCode::MalformedRequest => "MALFORMED_REQUEST",
            ReasonCode::RequestTooLarge => "REQUEST_TOO_LARGE",
            ReasonCode::FloatNotAllowed => "FLOAT_NOT_ALLOWED",
            ReasonCode::UnsupportedAlgorithm => "UNSUPPORTED_ALGORITHM",
            ReasonCode::KeyInvalid => "KEY_INVALID",
            ReasonCode::BadSignature => "BAD_SIGNATURE",
            ReasonCode::IntentHashMismatch => "INTENT_HASH_MISMATCH",
            ReasonCode::CertExpired => "CERT_EXPIRED",
            ReasonCode::CertNotYetValid => "CERT_NOT_YET_VALID",
            ReasonCode::CertTtlExceeded => "CERT_TTL_EXCEEDED",
            ReasonCode::ReplayDetected => "REPLAY_DETECTED",
            ReasonCode::SequenceReplay => "SEQUENCE_REPLAY",
            ReasonCode::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ReasonCode::RateLimited => "RATE_LIMITED",
            ReasonCode::SubjectRestricted => "SUBJECT_RESTRICTED",
            ReasonCode::PolicyNotFound => "POLICY_NOT_FOUND",
            ReasonCode::PolicySetMismatch => "POLICY_SET_MISMATCH",
            ReasonCode::StateStale => "STATE_STALE",
            ReasonCode::StateUnknown => "STATE_UNKNOWN",
            ReasonCode::AxiomFail => "AXIOM_FAIL",
            ReasonCode::InvariantViolated => "INVARIANT_VIOLATED",
            ReasonCode::AbacDenied => "ABAC_DENIED",
            ReasonCode::Uncertain => "UNCERTAIN",
            ReasonCode::EscrowRequired => "ESCROW_REQUIRED",
            ReasonCode::RollbackRequired => "ROLLBACK_REQUIRED",
            ReasonCode::DeferLimitEscrow => "DEFER_LIMIT_ESCROW",
            ReasonCode::SmtUnavailable => "SMT_UNAVAILABLE",
            ReasonCode::SmtNonFormal => "SMT_NON_FORMAL",
            ReasonCode::DegradedMode => "DEGRADED_MODE",
            ReasonCode::Overloaded => "OVERLOADED",
            ReasonCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// Returns true for the reasons that open a security incident.
    pub fn is_security_incident(self) -> bool {
        matches!(
            self,
            ReasonCode::BadSignature
                | ReasonCode::ReplayDetected
                | ReasonCode::SequenceReplay
                | ReasonCode::KeyInvalid
                | ReasonCode::IntentHashMismatch
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason code `{0}`")]
pub struct UnknownReasonCode(pub String);

impl FromStr for ReasonCode {
    type Err = UnknownReasonCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ReasonCode::ALL
            .into_iter()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| UnknownReasonCode(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_form_matches_as_str() {
        for code in ReasonCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ReasonCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn from_str_round_trips_and_rejects_unknown() {
        for code in ReasonCode::ALL {
            assert_eq!(code.as_str().parse::<ReasonCode>(), Ok(code));
        }
        assert!("NOT_A_CODE".parse::<ReasonCode>().is_err());
    }
}
