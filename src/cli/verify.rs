//! `axiom verify`: runs the engine's stateless checks on an envelope offline.

use anyhow::{Context, Result};
use axiom_engine::checks::{authenticate, CheckLimits, REQUEST_BYTES_MAX_DEFAULT};
use axiom_engine::crypto::PublicKey;
use axiom_engine::keys::{KeyRecord, KeyRegistry};
use axiom_engine::model::ReasonCode;
use axiom_engine::settings::{ACCEPTANCE_TTL_MS_DEFAULT, CLOCK_SKEW_MS_DEFAULT};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Options of `axiom verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Envelope JSON file, as printed by `axiom sign`.
    pub envelope: PathBuf,
    /// The signer's public key: a `.pub` or `.key` file, or the base64url key itself. The key
    /// is bound to the tenant and actor the intent names.
    #[arg(long)]
    pub public_key: String,
    /// Engine time to check against, Unix milliseconds (default: now).
    #[arg(long)]
    pub now_ms: Option<i64>,
    /// Allowed clock difference, in milliseconds.
    #[arg(long, default_value_t = CLOCK_SKEW_MS_DEFAULT)]
    pub clock_skew_ms: u64,
    /// Longest accepted certificate lifetime, in milliseconds; 0 rejects every certificate.
    #[arg(long, default_value_t = ACCEPTANCE_TTL_MS_DEFAULT)]
    pub acceptance_ttl_ms: u64,
}

/// Prints the reason code (`OK` or the first failure) and exits 0 on `OK`, 1 otherwise.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    let (reason, detail) = verify_file(&args)?;
    println!("{reason}");
    if let Some(detail) = detail {
        eprintln!("{detail}");
    }
    Ok(if reason == ReasonCode::Ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the stateless checks and returns the reason code with the rejection detail.
pub fn verify_file(args: &VerifyArgs) -> Result<(ReasonCode, Option<String>)> {
    let request = std::fs::read(&args.envelope)
        .with_context(|| format!("failed to read {}", args.envelope.display()))?;
    let (kid, public_key) = load_public_key(&args.public_key)?;

    let registry = KeyRegistry::new();
    if let Some((tenant, actor_id)) = intent_actor(&request) {
        let mut record = KeyRecord::new(tenant, public_key, vec![actor_id], 0);
        record.kid = kid;
        registry
            .register(record)
            .context("failed to register the public key")?;
    }

    let limits = CheckLimits {
        request_bytes_max: REQUEST_BYTES_MAX_DEFAULT,
        clock_skew_ms: args.clock_skew_ms,
        acceptance_ttl_ms: args.acceptance_ttl_ms,
    };
    let now_ms = args.now_ms.unwrap_or_else(unix_time_ms_now);
    Ok(match authenticate(&request, &registry, &limits, now_ms) {
        Ok(_) => (ReasonCode::Ok, None),
        Err(rejection) => (rejection.reason, Some(rejection.detail)),
    })
}

/// Reads a public key from a key file (`.pub` or `.key`) or from base64url text. Returns the
/// kid from the file, or the derived kid for bare key text.
fn load_public_key(argument: &str) -> Result<(String, PublicKey)> {
    let path = PathBuf::from(argument);
    if !path.is_file() {
        let public_key = PublicKey::from_base64url(argument).with_context(|| {
            format!("--public-key `{argument}` is neither a file nor a base64url public key")
        })?;
        return Ok((public_key.derive_kid(), public_key));
    }

    let text = std::fs::read(&path).with_context(|| format!("failed to read {}", path.display()))?;
    let file: Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a JSON key file", path.display()))?;
    let encoded = file["public_key"]
        .as_str()
        .with_context(|| format!("{} has no public_key", path.display()))?;
    let public_key = PublicKey::from_base64url(encoded)
        .with_context(|| format!("invalid public_key in {}", path.display()))?;
    let kid = file["kid"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| public_key.derive_kid());
    Ok((kid, public_key))
}

/// Returns the tenant and actor id the envelope's intent names, if it can be read at all. An
/// unreadable envelope leaves the registry empty, and `authenticate` reports why.
fn intent_actor(request: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(request).ok()?;
    let actor = &value["intent"]["actor"];
    Some((actor["tenant"].as_str()?.to_owned(), actor["id"].as_str()?.to_owned()))
}

fn unix_time_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::keygen::write_key_files;
    use crate::cli::sign::{sign_file, SignArgs};
    use axiom_engine::crypto::KeyPair;

    const NOW_MS: i64 = 1_750_000_000_000;

    fn write_intent(dir: &std::path::Path) -> PathBuf {
        let intent = serde_json::json!({
            "intent_id": "i-1",
            "idempotency_key": "k-1",
            "actor": {"id": "bot-1", "tenant": "acme", "roles": []},
            "target": {"domain": "finance", "object_types": [], "object_ids": ["inv-1"], "scope": "single"},
            "operation": {"name": "pay_invoice", "params": {"amount": "10.00"}},
            "data_requirements": {"required_sources": [], "max_staleness_sec": 30},
            "time": {"request_time": NOW_MS}
        });
        let path = dir.join("intent.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&intent).unwrap()).unwrap();
        path
    }

    fn sign_args(key: PathBuf, intent: PathBuf) -> SignArgs {
        SignArgs {
            key,
            intent,
            ttl_ms: 60_000,
            sequence: Some(3),
            policy_set_id: None,
            rollback_plan: None,
            issued_at_ms: Some(NOW_MS),
            nonce: None,
            cert_id: None,
        }
    }

    fn verify_args(envelope: PathBuf, public_key: String) -> VerifyArgs {
        VerifyArgs {
            envelope,
            public_key,
            now_ms: Some(NOW_MS + 1_000),
            clock_skew_ms: CLOCK_SKEW_MS_DEFAULT,
            acceptance_ttl_ms: ACCEPTANCE_TTL_MS_DEFAULT,
        }
    }

    #[test]
    fn keygen_sign_verify_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let pair = KeyPair::generate();
        let (secret_path, public_path) = write_key_files(&pair, dir.path(), "bot").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&secret_path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert!(write_key_files(&pair, dir.path(), "bot").is_err(), "key files were overwritten");

        let envelope = sign_file(&sign_args(secret_path, write_intent(dir.path()))).unwrap();
        let envelope_path = dir.path().join("envelope.json");
        std::fs::write(&envelope_path, serde_json::to_vec(&envelope).unwrap()).unwrap();

        let by_file = verify_args(envelope_path.clone(), public_path.display().to_string());
        assert_eq!(verify_file(&by_file).unwrap().0, ReasonCode::Ok);
        let by_text = verify_args(envelope_path.clone(), pair.public_key().to_base64url());
        assert_eq!(verify_file(&by_text).unwrap().0, ReasonCode::Ok);

        let other_key = KeyPair::generate().public_key().to_base64url();
        let mut wrong_key = verify_args(envelope_path.clone(), other_key);
        // Bare key text gets its derived kid, which the envelope does not name.
        assert_eq!(verify_file(&wrong_key).unwrap().0, ReasonCode::KeyInvalid);
        wrong_key.public_key = pair.public_key().to_base64url();
        wrong_key.now_ms = Some(NOW_MS + 120_000);
        assert_eq!(verify_file(&wrong_key).unwrap().0, ReasonCode::CertExpired);

        let mut tampered = envelope.clone();
        tampered["certificate"]["sequence"] = serde_json::json!(4);
        std::fs::write(&envelope_path, serde_json::to_vec(&tampered).unwrap()).unwrap();
        assert_eq!(verify_file(&by_file).unwrap().0, ReasonCode::BadSignature);
    }
}
