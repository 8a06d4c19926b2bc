//! The outcome of a failed check.

use super::authenticate::AuthenticatedRequest;
use crate::model::ReasonCode;
use std::fmt;

/// One failed check: its reason code and a detail that is safe to send to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The reason code.
    pub reason: ReasonCode,
    /// What failed, on which value.
    pub detail: String,
}

impl CheckFailure {
    /// Creates a failure.
    pub fn new(reason: ReasonCode, detail: impl Into<String>) -> CheckFailure {
        CheckFailure {
            reason,
            detail: detail.into(),
        }
    }
}

/// How far authentication got before the rejection.
#[derive(Debug, Clone)]
pub enum RejectionStage {
    /// Rejected before the signature verified: nothing in the request can be attributed to a
    /// key holder, so it must not consume a nonce, a rate limit or an audit record of its own.
    Unauthenticated,
    /// Rejected after the signature and the intent hash verified: the request is the key
    /// holder's own and can be audited under its kid, tenant and actor.
    Authenticated(Box<AuthenticatedRequest>),
}

/// A failed check: its reason code, a detail for the agent, and the stage it failed at.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// The reason code sent to the agent.
    pub reason: ReasonCode,
    /// What failed, on which value; safe to send to the agent.
    pub detail: String,
    /// Whether the request had authenticated before it was rejected.
    pub stage: RejectionStage,
}

impl Rejection {
    /// Creates a rejection of a request that has not authenticated.
    pub fn unauthenticated(failure: CheckFailure) -> Rejection {
        Rejection {
            reason: failure.reason,
            detail: failure.detail,
            stage: RejectionStage::Unauthenticated,
        }
    }

    /// Creates a rejection of a request whose signature and intent hash verified.
    pub fn authenticated(failure: CheckFailure, request: AuthenticatedRequest) -> Rejection {
        Rejection {
            reason: failure.reason,
            detail: failure.detail,
            stage: RejectionStage::Authenticated(Box::new(request)),
        }
    }

    /// Returns true if the signature had verified before the rejection.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.stage, RejectionStage::Authenticated(_))
    }

    /// Returns the authenticated request, if the rejection came after the signature verified.
    pub fn authenticated_request(&self) -> Option<&AuthenticatedRequest> {
        match &self.stage {
            RejectionStage::Authenticated(request) => Some(request),
            RejectionStage::Unauthenticated => None,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.reason, self.detail)
    }
}
