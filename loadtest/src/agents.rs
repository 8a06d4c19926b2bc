//! The agents a run signs for, and the signed request bytes of each scenario.

use crate::error::LoadtestError;
use crate::intents::{self, ActorIdentity};
use crate::mix::Scenario;
use axiom_engine::crypto::{base64url_decode, base64url_encode, AgentKey, CertificateOptions, KeyPair};
use bytes::Bytes;
use serde_json::Value;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One agent: a signing key and the actor it signs for.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The signing key, registered with the server under its kid.
    pub key: AgentKey,
    /// Tenant and actor written into every intent.
    pub identity: ActorIdentity,
}

impl Agent {
    /// Loads an agent key file (JSON with kid, alg, public_key and secret_key).
    pub fn from_key_file(path: &Path, identity: ActorIdentity) -> Result<Agent, LoadtestError> {
        let key_file_error = |message: String| LoadtestError::KeyFile {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read(path).map_err(|error| key_file_error(error.to_string()))?;
        let pair = KeyPair::from_key_file_json(&text).map_err(|error| key_file_error(error.to_string()))?;
        Ok(Agent {
            key: AgentKey::from_key_pair(pair),
            identity,
        })
    }

    /// Creates an agent with a fresh key; the server accepts it only once the key is registered.
    pub fn generate(identity: ActorIdentity) -> Agent {
        Agent {
            key: AgentKey::generate(),
            identity,
        }
    }

    /// Returns the key id.
    pub fn kid(&self) -> &str {
        self.key.key_pair().kid()
    }
}

/// Builds the signed request bytes of every scenario except replay.
///
/// Intent ids and idempotency keys are unique per run (`run_id`) and per request (`index`),
/// so no request is mistaken for a retry of another.
#[derive(Debug, Clone)]
pub struct RequestFactory {
    agents: Vec<Agent>,
    run_id: String,
    cert_ttl_ms: u64,
}

impl RequestFactory {
    /// Creates a factory; `agents` must not be empty.
    pub fn new(agents: Vec<Agent>, run_id: String, cert_ttl_ms: u64) -> Result<RequestFactory, LoadtestError> {
        if agents.is_empty() {
            return Err(crate::error::ConfigError::NoAgents.into());
        }
        Ok(RequestFactory {
            agents,
            run_id,
            cert_ttl_ms,
        })
    }

    /// Returns the number of agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// Signs request number `index` of the given scenario, for agent `index % agents`.
    ///
    /// A replay request has no bytes of its own; this signs a fresh allow request for it,
    /// which the caller only uses as a fallback.
    pub fn build(&self, scenario: Scenario, index: u64) -> Result<Bytes, LoadtestError> {
        let agent = &self.agents[(index % self.agents.len() as u64) as usize];
        let unique = format!("{}-{index}", self.run_id);
        let now_ms = unix_time_ms();
        let intent = intents::build(scenario, &agent.identity, &unique, now_ms);

        let options = CertificateOptions {
            ttl_ms: self.cert_ttl_ms,
            issued_at_ms: Some(now_ms),
            rollback_plan: intents::rollback_plan(scenario),
            ..CertificateOptions::default()
        };
        let signing_error = |message: String| LoadtestError::Signing { scenario, message };
        let mut envelope = agent
            .key
            .sign_intent(&intent, &options)
            .map_err(|error| signing_error(error.to_string()))?;

        if scenario == Scenario::Forged {
            flip_signature_bit(&mut envelope).map_err(signing_error)?;
        }
        let bytes = serde_json::to_vec(&envelope).map_err(|error| signing_error(error.to_string()))?;
        Ok(Bytes::from(bytes))
    }
}

/// Flips the lowest bit of the first signature byte, leaving a well-formed but wrong signature.
pub fn flip_signature_bit(envelope: &mut Value) -> Result<(), String> {
    let sig = envelope
        .pointer_mut("/certificate/sig")
        .ok_or("signed envelope has no certificate.sig")?;
    let mut raw = base64url_decode(sig.as_str().unwrap_or_default()).map_err(|error| error.to_string())?;
    let first = raw.first_mut().ok_or("signature is empty")?;
    *first ^= 1;
    *sig = Value::from(base64url_encode(&raw));
    Ok(())
}

/// Returns the current Unix time in milliseconds (0 if the clock is before 1970).
pub fn unix_time_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axiom_engine::crypto::{certificate_signing_input, verify_strict};

    fn factory() -> RequestFactory {
        let identity = ActorIdentity { tenant: "t1".into(), actor: "a1".into() };
        RequestFactory::new(vec![Agent::generate(identity)], "run".into(), 60_000).unwrap()
    }

    fn signature_verifies(factory: &RequestFactory, bytes: &[u8]) -> bool {
        let envelope: Value = serde_json::from_slice(bytes).unwrap();
        let mut certificate = envelope["certificate"].as_object().unwrap().clone();
        let sig = base64url_decode(certificate.remove("sig").unwrap().as_str().unwrap()).unwrap();
        let input = certificate_signing_input(&certificate);
        let public_key = factory.agents[0].key.key_pair().public_key();
        verify_strict(&public_key, &input, &sig).is_ok()
    }

    #[test]
    fn forged_request_fails_verification_and_allow_passes() {
        let factory = factory();
        let allow = factory.build(Scenario::Allow, 1).unwrap();
        let forged = factory.build(Scenario::Forged, 2).unwrap();
        assert!(signature_verifies(&factory, &allow));
        assert!(!signature_verifies(&factory, &forged));
    }

    #[test]
    fn requests_get_unique_ids() {
        let factory = factory();
        let first: Value = serde_json::from_slice(&factory.build(Scenario::Allow, 1).unwrap()).unwrap();
        let second: Value = serde_json::from_slice(&factory.build(Scenario::Allow, 2).unwrap()).unwrap();
        assert_ne!(first["intent"]["idempotency_key"], second["intent"]["idempotency_key"]);
        assert_ne!(first["certificate"]["nonce"], second["certificate"]["nonce"]);
    }
}
