//! The demo scenarios: realistic requests against the embedded demo tenant, each with the
//! verdict and reason code the finance policy must give. `axiom demo` prints them and the
//! integration tests assert them, over real QUIC against a real server process.

use super::bootstrap::{DEMO_DOMAIN, DEMO_TENANT};
use super::connect::connect_pinned;
use super::decide::unix_now_ms;
use super::serve::ServerInfo;
use anyhow::{anyhow, Context};
use axiom_engine::crypto::{AgentKey, CertificateOptions, KeyPair};
use axiom_engine::model::{DecisionResponse, ReasonCode, RollbackPlan, Verdict};
use axiom_transport::{Client, Fingerprint, StreamEnding};
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Principal id of the demo's operator token.
pub const DEMO_OPERATOR: &str = "demo-operator";
/// Actor id the demo agent acts as.
pub const DEMO_ACTOR: &str = "ap-agent-7";
/// Age of the bank feed the demo reports, in seconds: fresh for the policy's 30 s limit, stale
/// for an intent that allows only 1 s.
pub const BANK_FEED_AGE_SEC: i64 = 5;

/// One scenario, with the verdict the policy must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A small payment within budget, by a finance operator, with a rollback plan.
    InLimitPayment,
    /// A refund above the policy's escrow threshold.
    AboveEscrowThreshold,
    /// A payment larger than the remaining accounts-payable budget.
    OverBudget,
    /// A refund whose intent accepts a bank feed at most 1 s old.
    StaleBankFeed,
    /// A payment whose amount is uncertain by ±2000, straddling the remaining budget.
    UncertainAmount,
    /// The in-limit payment's envelope sent a second time.
    ReplayedCertificate,
    /// A certificate whose sequence is lower than one already accepted.
    LowerSequence,
    /// A certificate with one bit of its signature flipped.
    FlippedSignatureBit,
    /// A certificate signed with a key that was registered and then revoked.
    RevokedKey,
    /// A certificate that expired a minute ago.
    ExpiredCertificate,
    /// A batch job over the policy's batch size.
    OversizedBatch,
    /// Bytes that are not JSON, on a stream of the same connection.
    MalformedFrame,
}

impl Scenario {
    /// Every scenario, in the order the demo runs them (later ones rely on earlier state:
    /// the replay re-sends the in-limit payment, the uncertain amount assumes its spend).
    pub const ALL: [Scenario; 12] = [
        Scenario::InLimitPayment,
        Scenario::AboveEscrowThreshold,
        Scenario::OverBudget,
        Scenario::StaleBankFeed,
        Scenario::UncertainAmount,
        Scenario::ReplayedCertificate,
        Scenario::LowerSequence,
        Scenario::FlippedSignatureBit,
        Scenario::RevokedKey,
        Scenario::ExpiredCertificate,
        Scenario::OversizedBatch,
        Scenario::MalformedFrame,
    ];

    /// Returns the scenario's short name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::InLimitPayment => "in-limit payment",
            Scenario::AboveEscrowThreshold => "refund above escrow threshold",
            Scenario::OverBudget => "payment over remaining budget",
            Scenario::StaleBankFeed => "refund with stale bank feed",
            Scenario::UncertainAmount => "uncertain payment amount",
            Scenario::ReplayedCertificate => "same certificate twice",
            Scenario::LowerSequence => "lower sequence",
            Scenario::FlippedSignatureBit => "flipped signature bit",
            Scenario::RevokedKey => "revoked key",
            Scenario::ExpiredCertificate => "expired certificate",
            Scenario::OversizedBatch => "batch over size limit",
            Scenario::MalformedFrame => "malformed frame",
        }
    }

    /// Returns the verdict and reason code the demo policy must give.
    pub fn expected(self) -> (Verdict, ReasonCode) {
        match self {
            Scenario::InLimitPayment => (Verdict::Allow, ReasonCode::Ok),
            Scenario::AboveEscrowThreshold => (Verdict::Escrow, ReasonCode::EscrowRequired),
            Scenario::OverBudget => (Verdict::Deny, ReasonCode::AxiomFail),
            Scenario::StaleBankFeed => (Verdict::Defer, ReasonCode::StateStale),
            Scenario::UncertainAmount => (Verdict::Escrow, ReasonCode::Uncertain),
            Scenario::ReplayedCertificate => (Verdict::Deny, ReasonCode::ReplayDetected),
            Scenario::LowerSequence => (Verdict::Deny, ReasonCode::SequenceReplay),
            Scenario::FlippedSignatureBit => (Verdict::Deny, ReasonCode::BadSignature),
            Scenario::RevokedKey => (Verdict::Deny, ReasonCode::KeyInvalid),
            Scenario::ExpiredCertificate => (Verdict::Deny, ReasonCode::CertExpired),
            Scenario::OversizedBatch => (Verdict::Shield, ReasonCode::AxiomFail),
            Scenario::MalformedFrame => (Verdict::Deny, ReasonCode::MalformedRequest),
        }
    }
}

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// Which scenario.
    pub scenario: Scenario,
    /// The response received.
    pub response: DecisionResponse,
    /// Round-trip time of the scenario's request.
    pub latency: Duration,
    /// The envelope sent, so a caller can recompute its intent hash and check the receipt;
    /// None for the malformed frame, which is not an envelope.
    pub envelope: Option<Value>,
}

impl ScenarioResult {
    /// Returns true when the verdict and reason code are the expected ones.
    pub fn as_expected(&self) -> bool {
        (self.response.verdict, self.response.reason_code) == self.scenario.expected()
    }
}

/// Builds a demo intent.
pub fn demo_intent(operation: &str, params: Value, required_sources: &[&str], max_staleness_sec: u64) -> Value {
    json!({
        "intent_id": uuid::Uuid::new_v4().to_string(),
        "idempotency_key": uuid::Uuid::new_v4().to_string(),
        "actor": {"id": DEMO_ACTOR, "tenant": DEMO_TENANT, "roles": ["FinanceOperator"]},
        "target": {
            "domain": DEMO_DOMAIN,
            "object_types": ["invoice"],
            "object_ids": ["inv-1001"],
            "scope": "single"
        },
        "operation": {"name": operation, "params": params},
        "data_requirements": {
            "required_sources": required_sources,
            "max_staleness_sec": max_staleness_sec,
            "uncertainty_budget": {}
        },
        "time": {"request_time": unix_now_ms()}
    })
}

/// A rollback plan with one compensating step.
pub fn demo_rollback_plan() -> RollbackPlan {
    RollbackPlan {
        plan_type: "compensate".to_owned(),
        steps: vec![json!({"operation": "void_payment"})],
    }
}

/// A running demo: the connection, the agent key and the control-plane address and token.
pub struct DemoSession {
    /// Pinned QUIC connection to the server.
    pub client: Client,
    /// The demo agent's key.
    pub agent: AgentKey,
    /// Base URL of the control plane, `http://host:port`.
    pub http_base: String,
    /// Bearer token of the demo operator (securityadmin, operator, sre of the demo tenant).
    pub token: String,
    /// The envelope of the in-limit payment, for the replay scenario.
    accepted_envelope: Option<Value>,
}

impl DemoSession {
    /// Connects to a server that runs the demo tenant.
    pub async fn connect(info: &ServerInfo, token: String) -> anyhow::Result<DemoSession> {
        let demo = info
            .demo
            .as_ref()
            .ok_or_else(|| anyhow!("the server runs without the demo tenant (--no-demo-tenant)"))?;
        let key_bytes = std::fs::read(&demo.key_file)
            .with_context(|| format!("reading the demo agent key {}", demo.key_file.display()))?;
        let pair = KeyPair::from_key_file_json(&key_bytes)
            .map_err(|error| anyhow!("the demo agent key is invalid: {error}"))?;
        let fingerprint: Fingerprint = info
            .tls_fingerprint
            .parse()
            .map_err(|error| anyhow!("invalid server fingerprint: {error}"))?;
        let client = connect_pinned(info.quic_addr, fingerprint).await?;
        Ok(DemoSession {
            client,
            agent: AgentKey::from_key_pair(pair),
            http_base: format!("http://{}", info.http_addr),
            token,
            accepted_envelope: None,
        })
    }

    /// Calls the control plane; fails on a non-2xx status.
    pub fn http(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let body = body.map(|value| value.to_string());
        let response = crate::http::client::send(
            &self.http_base,
            method,
            path,
            Some(&self.token),
            body.as_deref(),
        )?;
        if !(200..300).contains(&response.status) {
            return Err(anyhow!(
                "{method} {path} returned {}: {}",
                response.status,
                response.body
            ));
        }
        if response.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&response.body).context("the control plane returned invalid JSON")
    }

    /// Reports a fresh bank feed (event time `BANK_FEED_AGE_SEC` ago) through the control plane.
    pub fn ingest_bank_feed(&self) -> anyhow::Result<()> {
        let event_time_ms = unix_now_ms() - BANK_FEED_AGE_SEC * 1_000;
        self.http(
            "POST",
            "/v1/sources/events",
            Some(json!({
                "tenant": DEMO_TENANT,
                "domain": DEMO_DOMAIN,
                "source": "bank",
                "event_time_ms": event_time_ms
            })),
        )?;
        Ok(())
    }

    /// Signs `intent` with the demo agent key.
    pub fn sign(&self, intent: &Value, options: &CertificateOptions) -> anyhow::Result<Value> {
        Ok(self.agent.sign_envelope(intent, options)?)
    }

    /// Sends an envelope and parses the response.
    pub async fn send(&self, envelope: &Value) -> anyhow::Result<DecisionResponse> {
        let payload = Bytes::from(serde_json::to_vec(envelope)?);
        let bytes = self.client.request(payload).await?;
        serde_json::from_slice(&bytes).context("the server returned invalid JSON")
    }

    fn with_rollback() -> CertificateOptions {
        CertificateOptions {
            rollback_plan: Some(demo_rollback_plan()),
            ..CertificateOptions::default()
        }
    }

    /// Runs one scenario and measures its request's round trip.
    pub async fn run(&mut self, scenario: Scenario) -> anyhow::Result<ScenarioResult> {
        let envelope = self.prepare(scenario).await?;
        let started = Instant::now();
        let (response, envelope) = match envelope {
            Prepared::Envelope(envelope) => (self.send(&envelope).await?, Some(envelope)),
            Prepared::Raw(bytes) => {
                let answer = self.client.send_raw(bytes, StreamEnding::Finish).await?;
                let response =
                    serde_json::from_slice(&answer).context("the server returned invalid JSON")?;
                (response, None)
            }
        };
        let latency = started.elapsed();
        Ok(ScenarioResult {
            scenario,
            response,
            latency,
            envelope,
        })
    }

    async fn prepare(&mut self, scenario: Scenario) -> anyhow::Result<Prepared> {
        let envelope = match scenario {
            Scenario::InLimitPayment => {
                let intent = demo_intent("pay_invoice", json!({"amount": "120.00"}), &["bank"], 60);
                let envelope = self.sign(&intent, &Self::with_rollback())?;
                self.accepted_envelope = Some(envelope.clone());
                envelope
            }
            Scenario::AboveEscrowThreshold => {
                let intent = demo_intent("refund", json!({"amount": "15000.00"}), &["bank"], 60);
                self.sign(&intent, &Self::with_rollback())?
            }
            Scenario::OverBudget => {
                let intent = demo_intent("pay_invoice", json!({"amount": "9000.00"}), &["bank"], 60);
                self.sign(&intent, &Self::with_rollback())?
            }
            Scenario::StaleBankFeed => {
                let intent = demo_intent("refund", json!({"amount": "50.00"}), &["bank"], 1);
                self.sign(&intent, &Self::with_rollback())?
            }
            Scenario::UncertainAmount => {
                let mut intent =
                    demo_intent("pay_invoice", json!({"amount": "4000.00"}), &["bank"], 60);
                intent["data_requirements"]["uncertainty_budget"] = json!({"amount": "2000.00"});
                self.sign(&intent, &Self::with_rollback())?
            }
            Scenario::ReplayedCertificate => match &self.accepted_envelope {
                Some(envelope) => envelope.clone(),
                None => {
                    let intent = demo_intent("get_invoice", json!({}), &[], 60);
                    let envelope = self.sign(&intent, &CertificateOptions::default())?;
                    self.send(&envelope).await?;
                    envelope
                }
            },
            Scenario::LowerSequence => {
                let first = demo_intent("get_invoice", json!({}), &[], 60);
                let options = CertificateOptions {
                    sequence: Some(unix_now_ms().max(10) as u64),
                    ..CertificateOptions::default()
                };
                let accepted = self.send(&self.sign(&first, &options)?).await?;
                if accepted.verdict != Verdict::Allow {
                    return Err(anyhow!(
                        "the sequence setup request was not allowed: {:?} {}",
                        accepted.verdict,
                        accepted.reason_code
                    ));
                }
                let second = demo_intent("get_invoice", json!({}), &[], 60);
                let lower = CertificateOptions {
                    sequence: options.sequence.map(|value| value - 1),
                    ..CertificateOptions::default()
                };
                self.sign(&second, &lower)?
            }
            Scenario::FlippedSignatureBit => {
                let intent = demo_intent("pay_invoice", json!({"amount": "10.00"}), &["bank"], 60);
                let mut envelope = self.sign(&intent, &Self::with_rollback())?;
                flip_signature_bit(&mut envelope)?;
                envelope
            }
            Scenario::RevokedKey => {
                let pair = KeyPair::generate();
                let registered = self.http(
                    "POST",
                    "/v1/keys",
                    Some(json!({
                        "tenant": DEMO_TENANT,
                        "public_key": pair.public_key().to_base64url(),
                        "allowed_actors": [DEMO_ACTOR]
                    })),
                )?;
                let kid = registered["kid"]
                    .as_str()
                    .ok_or_else(|| anyhow!("POST /v1/keys returned no kid: {registered}"))?
                    .to_owned();
                self.http(
                    "PATCH",
                    &format!("/v1/keys/{kid}"),
                    Some(json!({"status": "revoked"})),
                )?;
                let agent = AgentKey::from_key_pair(pair.with_kid(kid));
                let intent = demo_intent("pay_invoice", json!({"amount": "10.00"}), &["bank"], 60);
                agent.sign_envelope(&intent, &Self::with_rollback())?
            }
            Scenario::ExpiredCertificate => {
                let intent = demo_intent("pay_invoice", json!({"amount": "10.00"}), &["bank"], 60);
                let options = CertificateOptions {
                    issued_at_ms: Some(unix_now_ms() - 120_000),
                    ttl_ms: 60_000,
                    ..Self::with_rollback()
                };
                self.sign(&intent, &options)?
            }
            Scenario::OversizedBatch => {
                let mut intent = demo_intent("run_batch", json!({"job": "reconcile"}), &[], 60);
                let ids: Vec<String> = (0..75).map(|index| format!("inv-{index}")).collect();
                intent["target"]["object_ids"] = json!(ids);
                intent["target"]["scope"] = json!("batch");
                self.sign(&intent, &Self::with_rollback())?
            }
            Scenario::MalformedFrame => {
                return Ok(Prepared::Raw(Bytes::from_static(b"\x00\x00\x00\x0bnot json!!!")));
            }
        };
        Ok(Prepared::Envelope(envelope))
    }
}

enum Prepared {
    Envelope(Value),
    Raw(Bytes),
}

/// Flips the lowest bit of the first byte of the certificate's signature.
pub fn flip_signature_bit(envelope: &mut Value) -> anyhow::Result<()> {
    let signature = envelope["certificate"]["sig"]
        .as_str()
        .ok_or_else(|| anyhow!("envelope has no certificate signature"))?;
    let mut bytes = axiom_engine::crypto::base64url_decode(signature)
        .map_err(|error| anyhow!("signature is not base64url: {error}"))?;
    if let Some(first) = bytes.first_mut() {
        *first ^= 0x01;
    }
    envelope["certificate"]["sig"] = Value::from(axiom_engine::crypto::base64url_encode(&bytes));
    Ok(())
}
