//! Bearer token checks beyond the role matrix: EdDSA tokens against a JWKS file, issuer,
//! audience, not-before and algorithm checks, platform claims, and `--dev-no-auth` rules.

mod http_support;

use axiom::http::auth::{AuthConfigError, AuthSettings, Authenticator, Claims, TenantScope};
use axiom::http::error::ApiError;
use axiom::node::metrics::Metrics;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::SigningKey;
use http_support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::Arc;

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410 section 7); the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn hs256_settings() -> AuthSettings {
    AuthSettings {
        hs256_secret: Some(SECRET.to_owned()),
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        environment: "development".to_owned(),
        ..AuthSettings::default()
    }
}

fn authenticator(settings: &AuthSettings) -> Authenticator {
    Authenticator::new(settings, Arc::new(Metrics::default())).expect("authenticator")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn eddsa_token(key: &SigningKey, kid: &str, claims: &Claims) -> String {
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&key.to_bytes());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).expect("EdDSA token")
}

#[test]
fn eddsa_tokens_verify_against_jwks() {
    let trusted = SigningKey::from_bytes(&[7u8; 32]);
    let untrusted = SigningKey::from_bytes(&[9u8; 32]);
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "idp-1", "alg": "EdDSA", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(trusted.verifying_key().to_bytes()),
    }]});
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks.to_string()).expect("write JWKS");
    let settings = AuthSettings {
        hs256_secret: None,
        jwks_file: Some(path),
        ..hs256_settings()
    };
    let auth = authenticator(&settings);
    let claims = claims(&["sre"], TENANT);

    let accepted = auth.authenticate(Some(&bearer(&eddsa_token(&trusted, "idp-1", &claims))));
    assert_eq!(
        accepted.map(|principal| principal.scope).ok(),
        Some(TenantScope::Tenant(TENANT.to_owned()))
    );

    let wrong_key = auth.authenticate(Some(&bearer(&eddsa_token(&untrusted, "idp-1", &claims))));
    assert!(matches!(wrong_key, Err(ApiError::InvalidToken(_))), "{wrong_key:?}");

    let unknown_kid = auth.authenticate(Some(&bearer(&eddsa_token(&trusted, "idp-2", &claims))));
    assert!(matches!(unknown_kid, Err(ApiError::InvalidToken(_))), "{unknown_kid:?}");

    let hs256 = auth.authenticate(Some(&bearer(&token("sre", TENANT))));
    assert!(matches!(hs256, Err(ApiError::InvalidToken(_))), "HS256 accepted by a JWKS-only server");
}

#[test]
fn claims_are_checked() {
    let auth = authenticator(&hs256_settings());
    let sign = |claims: &Claims| bearer(&axiom::http::auth::mint_hs256(SECRET, claims).expect("token"));

    let mut wrong_issuer = claims(&["sre"], TENANT);
    wrong_issuer.iss = "someone-else".into();
    assert!(matches!(auth.authenticate(Some(&sign(&wrong_issuer))), Err(ApiError::InvalidToken(_))));

    let mut wrong_audience = claims(&["sre"], TENANT);
    wrong_audience.aud = "other-service".into();
    assert!(matches!(auth.authenticate(Some(&sign(&wrong_audience))), Err(ApiError::InvalidToken(_))));

    let mut future = claims(&["sre"], TENANT);
    future.nbf = Some(now_s() + 600);
    assert!(matches!(auth.authenticate(Some(&sign(&future))), Err(ApiError::InvalidToken(_))));

    let mut within_leeway = claims(&["sre"], TENANT);
    within_leeway.exp = now_s() - 5;
    assert!(auth.authenticate(Some(&sign(&within_leeway))).is_ok(), "5 s past exp is inside the leeway");

    let mut expired = claims(&["sre"], TENANT);
    expired.exp = now_s() - 120;
    assert!(matches!(auth.authenticate(Some(&sign(&expired))), Err(ApiError::ExpiredToken)));

    let mut star_without_platform = claims(&["sre"], "*");
    star_without_platform.platform = false;
    assert!(matches!(auth.authenticate(Some(&sign(&star_without_platform))), Err(ApiError::InvalidToken(_))));

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&["sre"], TENANT)).expect("claims"))
    );
    assert!(matches!(auth.authenticate(Some(&bearer(&unsigned))), Err(ApiError::InvalidToken(_))));

    assert!(matches!(auth.authenticate(Some("Basic dXNlcjpwYXNz")), Err(ApiError::InvalidToken(_))));
    assert!(matches!(auth.authenticate(None), Err(ApiError::MissingToken)));
}

#[test]
fn dev_no_auth_rules() {
    let production = AuthSettings {
        hs256_secret: None,
        dev_no_auth: true,
        environment: "production".to_owned(),
        ..hs256_settings()
    };
    let result = Authenticator::new(&production, Arc::new(Metrics::default()));
    assert!(matches!(result, Err(AuthConfigError::NoAuthInProduction)));

    let nothing = AuthSettings {
        hs256_secret: None,
        ..hs256_settings()
    };
    let result = Authenticator::new(&nothing, Arc::new(Metrics::default()));
    assert!(matches!(result, Err(AuthConfigError::NothingConfigured)));

    let weak = AuthSettings {
        hs256_secret: Some("short".to_owned()),
        ..hs256_settings()
    };
    let result = Authenticator::new(&weak, Arc::new(Metrics::default()));
    assert!(matches!(result, Err(AuthConfigError::WeakSecret)));

    let development = AuthSettings {
        hs256_secret: None,
        dev_no_auth: true,
        ..hs256_settings()
    };
    let auth = authenticator(&development);
    assert_eq!(auth.authenticate(None).map(|principal| principal.scope).ok(), Some(TenantScope::Platform));
}

#[test]
fn serve_refuses_dev_no_auth_in_production() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_axiom"))
        .args(["serve", "--dev-no-auth", "--no-demo-tenant", "--http-listen", "127.0.0.1:0", "--quic-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("AXIOM_ENV", "production")
        .env_remove("AXIOM_JWT_HS256_SECRET")
        .output()
        .expect("axiom runs");
    assert!(!output.status.success(), "serve started without authentication in production");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--dev-no-auth"), "{stderr}");
    assert!(stderr.contains("AXIOM_ENV=production"), "{stderr}");
}
