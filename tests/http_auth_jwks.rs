//! RS256 bearer tokens against a JWKS read from a file and fetched from a URL. A real HTTP
//! server on 127.0.0.1 serves the key set. The authenticator fetches it at start and fails
//! without it. It picks up a rotated key set on refresh and keeps the last good one when a
//! refresh fails.
//!
//! The RSA keys in `tests/fixtures/rs256-test-*.pem` are test-only keys generated for these
//! tests with `openssl genrsa -traditional 2048` (PKCS#1 PEM). No crate in the build can
//! generate RSA keys, so they are committed.

mod http_support;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use axiom::http::auth::{AuthConfigError, AuthSettings, Authenticator, Claims, TenantScope, JWKS_BYTES_MAX};
use axiom::http::error::ApiError;
use axiom::node::metrics::Metrics;
use axiom::node::Node;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use http_support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Maximum wait for a background JWKS refresh to take effect, in seconds. Refreshes run every
/// second in these tests.
const REFRESH_WAIT_S: u64 = 20;

/// A test RSA key pair: the PKCS#1 private key for signing and the public `n`, `e` for a JWK.
struct RsaKey {
    private_der: Vec<u8>,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

/// Splits one DER element off `input`: its tag, its content and the bytes after it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count].iter().fold(0usize, |length, byte| length << 8 | usize::from(*byte));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

/// Reads an unsigned DER INTEGER, dropping the sign byte.
fn der_unsigned(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let (tag, content, rest) = der_element(input)?;
    if tag != 0x02 {
        return None;
    }
    let trimmed = content.strip_prefix(&[0u8]).unwrap_or(content);
    Some((trimmed.to_vec(), rest))
}

/// Loads `tests/fixtures/rs256-test-{name}.pem` and reads `n` and `e` out of its
/// `RSAPrivateKey` (RFC 8017 appendix A.1.2: version, modulus, publicExponent, …).
fn rsa_key(name: &str) -> RsaKey {
    let path = format!("{}/tests/fixtures/rs256-test-{name}.pem", env!("CARGO_MANIFEST_DIR"));
    let pem = std::fs::read_to_string(&path).expect("RSA fixture");
    let base64: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    let private_der = STANDARD.decode(base64).expect("PEM base64");

    let (tag, sequence, _) = der_element(&private_der).expect("RSAPrivateKey sequence");
    assert_eq!(tag, 0x30, "RSAPrivateKey is a SEQUENCE");
    let (_version, rest) = der_unsigned(sequence).expect("version");
    let (modulus, rest) = der_unsigned(rest).expect("modulus");
    let (exponent, _) = der_unsigned(rest).expect("public exponent");
    assert_eq!(modulus.len(), 256, "fixture keys are 2048-bit");
    RsaKey {
        private_der,
        modulus,
        exponent,
    }
}

fn sign(key: &RsaKey, algorithm: Algorithm, kid: &str, claims: &Claims) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    let token = jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&key.private_der));
    format!("Bearer {}", token.expect("RSA token"))
}

fn rs256(key: &RsaKey, kid: &str, claims: &Claims) -> String {
    sign(key, Algorithm::RS256, kid, claims)
}

/// Builds a JWKS document with the public halves of `keys`, each under its kid.
fn jwks(keys: &[(&RsaKey, &str)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(key, kid)| {
            serde_json::json!({
                "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(&key.modulus),
                "e": URL_SAFE_NO_PAD.encode(&key.exponent),
            })
        })
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

/// Settings verifying only JWKS tokens (no HS256 secret).
fn jwks_settings() -> AuthSettings {
    AuthSettings {
        issuer: ISSUER.to_owned(),
        audience: AUDIENCE.to_owned(),
        environment: "development".to_owned(),
        ..AuthSettings::default()
    }
}

fn url_settings(url: &str, refresh_s: u64) -> AuthSettings {
    AuthSettings {
        jwks_url: Some(url.to_owned()),
        jwks_refresh_s: refresh_s,
        ..jwks_settings()
    }
}

fn build(settings: &AuthSettings) -> Result<Authenticator, AuthConfigError> {
    Authenticator::new(settings, Arc::new(Metrics::default()))
}

/// The response the JWKS server sends.
struct Served {
    status: u16,
    body: String,
}

/// A real HTTP/1.1 server on 127.0.0.1 that sends the current [`Served`] to every request.
struct JwksServer {
    address: SocketAddr,
    served: Arc<Mutex<Served>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl JwksServer {
    fn start(body: String) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind JWKS server");
        let address = listener.local_addr().expect("JWKS server address");
        let served = Arc::new(Mutex::new(Served { status: 200, body }));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));

        let (thread_served, thread_requests, thread_stop) =
            (Arc::clone(&served), Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                answer(stream, &thread_served);
                thread_requests.fetch_add(1, Ordering::SeqCst);
            }
        });
        JwksServer {
            address,
            served,
            requests,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.address)
    }

    fn serve(&self, status: u16, body: String) {
        *self.served.lock().expect("served lock") = Served { status, body };
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits until the server has served `count` more requests than `seen`.
    fn wait_for_requests(&self, seen: usize, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(REFRESH_WAIT_S);
        while self.requests() < seen + count {
            assert!(Instant::now() < deadline, "the authenticator stopped refreshing the JWKS");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
    }
}

fn answer(mut stream: TcpStream, served: &Mutex<Served>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    let _ = reader.read_line(&mut request_line);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let (status, body) = {
        let served = served.lock().expect("served lock");
        (served.status, served.body.clone())
    };
    let response = format!(
        "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// Returns a URL on 127.0.0.1 where nothing listens.
fn unreachable_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}/jwks.json")
}

/// Checks one authenticator whose JWKS trusts `trusted` under kid `rsa-1`.
fn check_rs256(auth: &Authenticator, trusted: &RsaKey, untrusted: &RsaKey) {
    let valid = claims(&["sre"], TENANT);
    let accepted = auth.authenticate(Some(&rs256(trusted, "rsa-1", &valid)));
    assert_eq!(
        accepted.map(|principal| principal.scope).ok(),
        Some(TenantScope::Tenant(TENANT.to_owned()))
    );

    let wrong_key = auth.authenticate(Some(&rs256(untrusted, "rsa-1", &valid)));
    assert!(matches!(wrong_key, Err(ApiError::InvalidToken(_))), "{wrong_key:?}");

    let unknown_kid = auth.authenticate(Some(&rs256(trusted, "rsa-9", &valid)));
    assert!(matches!(unknown_kid, Err(ApiError::InvalidToken(_))), "{unknown_kid:?}");

    let hs256 = auth.authenticate(Some(&format!("Bearer {}", token("sre", TENANT))));
    assert!(matches!(hs256, Err(ApiError::InvalidToken(_))), "HS256 accepted by an RS256 JWKS: {hs256:?}");

    let rs384 = auth.authenticate(Some(&sign(trusted, Algorithm::RS384, "rsa-1", &valid)));
    assert!(matches!(rs384, Err(ApiError::InvalidToken(_))), "RS384 accepted: {rs384:?}");

    let mut expired = valid.clone();
    expired.exp = now_s() - 120;
    let expired = auth.authenticate(Some(&rs256(trusted, "rsa-1", &expired)));
    assert!(matches!(expired, Err(ApiError::ExpiredToken)), "{expired:?}");

    let mut wrong_issuer = valid.clone();
    wrong_issuer.iss = "someone-else".into();
    let wrong_issuer = auth.authenticate(Some(&rs256(trusted, "rsa-1", &wrong_issuer)));
    assert!(matches!(wrong_issuer, Err(ApiError::InvalidToken(_))), "{wrong_issuer:?}");

    let mut wrong_audience = valid;
    wrong_audience.aud = "other-service".into();
    let wrong_audience = auth.authenticate(Some(&rs256(trusted, "rsa-1", &wrong_audience)));
    assert!(matches!(wrong_audience, Err(ApiError::InvalidToken(_))), "{wrong_audience:?}");
}

#[test]
fn rs256_against_jwks_file() {
    let (trusted, untrusted) = (rsa_key("a"), rsa_key("b"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[(&trusted, "rsa-1")])).expect("write JWKS");
    let settings = AuthSettings {
        jwks_file: Some(path),
        ..jwks_settings()
    };

    let auth = build(&settings).expect("authenticator");

    check_rs256(&auth, &trusted, &untrusted);
}

#[test]
fn rs256_against_jwks_url() {
    let (trusted, untrusted) = (rsa_key("a"), rsa_key("b"));
    let server = JwksServer::start(jwks(&[(&trusted, "rsa-1")]));

    let auth = build(&url_settings(&server.url(), 300)).expect("authenticator");

    assert_eq!(server.requests(), 1, "the JWKS is fetched once at start");
    check_rs256(&auth, &trusted, &untrusted);
}

#[test]
fn jwks_url_rotation_and_failed_refresh() {
    let (first, second) = (rsa_key("a"), rsa_key("b"));
    let server = JwksServer::start(jwks(&[(&first, "rsa-1")]));
    let auth = build(&url_settings(&server.url(), 1)).expect("authenticator");
    let valid = claims(&["sre"], TENANT);
    assert!(auth.authenticate(Some(&rs256(&first, "rsa-1", &valid))).is_ok());
    let before_rotation = auth.authenticate(Some(&rs256(&second, "rsa-2", &valid)));
    assert!(matches!(before_rotation, Err(ApiError::InvalidToken(_))), "{before_rotation:?}");

    server.serve(200, jwks(&[(&second, "rsa-2")]));
    let deadline = Instant::now() + Duration::from_secs(REFRESH_WAIT_S);
    while auth.authenticate(Some(&rs256(&second, "rsa-2", &valid))).is_err() {
        assert!(Instant::now() < deadline, "the rotated key was not picked up within {REFRESH_WAIT_S} s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let retired = auth.authenticate(Some(&rs256(&first, "rsa-1", &valid)));
    assert!(matches!(retired, Err(ApiError::InvalidToken(_))), "removed key still accepted: {retired:?}");

    for (status, body) in [
        (500, "{}".to_owned()),
        (200, "not a JWKS".to_owned()),
        (200, r#"{"keys": []}"#.to_owned()),
    ] {
        server.serve(status, body);
        server.wait_for_requests(server.requests(), 2);
        let kept = auth.authenticate(Some(&rs256(&second, "rsa-2", &valid)));
        assert!(kept.is_ok(), "a failed refresh (status {status}) dropped the last good keys: {kept:?}");
    }

    drop(server);
    std::thread::sleep(Duration::from_millis(2_500));
    let unreachable = auth.authenticate(Some(&rs256(&second, "rsa-2", &valid)));
    assert!(unreachable.is_ok(), "an unreachable JWKS URL dropped the last good keys: {unreachable:?}");
}

#[test]
fn jwks_url_start_errors() {
    let key = rsa_key("a");

    let url = unreachable_url();
    let unreachable = build(&url_settings(&url, 300)).map(|_| ());
    let Err(error @ AuthConfigError::JwksFetch { .. }) = unreachable else {
        panic!("unreachable JWKS URL accepted: {unreachable:?}");
    };
    assert!(error.to_string().contains(&url), "{error}");

    let https = build(&url_settings("https://idp.example/jwks.json", 300)).map(|_| ());
    let Err(error @ AuthConfigError::JwksUrl { .. }) = https else {
        panic!("https JWKS URL accepted: {https:?}");
    };
    assert!(error.to_string().contains("--jwks-file"), "{error}");

    let server = JwksServer::start(jwks(&[(&key, "rsa-1")]));
    let too_short = build(&url_settings(&server.url(), 0)).map(|_| ());
    assert!(matches!(too_short, Err(AuthConfigError::JwksRefreshTooShort { seconds: 0 })), "{too_short:?}");

    let both = AuthSettings {
        jwks_file: Some("jwks.json".into()),
        ..url_settings(&server.url(), 300)
    };
    let both = build(&both).map(|_| ());
    assert!(matches!(both, Err(AuthConfigError::JwksSourcesConflict)), "{both:?}");

    let bodies = [
        (404, "not found".to_owned(), "404"),
        (200, "not a JWKS".to_owned(), "invalid JWKS JSON"),
        (200, r#"{"keys": []}"#.to_owned(), "no keys"),
        (200, " ".repeat(JWKS_BYTES_MAX as usize + 1), "above the limit"),
    ];
    for (status, body, expected) in bodies {
        server.serve(status, body);
        let result = build(&url_settings(&server.url(), 300)).map(|_| ());
        let Err(error @ AuthConfigError::JwksFetch { .. }) = result else {
            panic!("JWKS response `{expected}` accepted: {result:?}");
        };
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn serve_refuses_unreachable_jwks_url() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = unreachable_url();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_axiom"))
        .args(["serve", "--no-demo-tenant", "--http-listen", "127.0.0.1:0", "--quic-listen", "127.0.0.1:0"])
        .args(["--jwks-url", &url, "--data-dir"])
        .arg(dir.path())
        .env_remove("AXIOM_JWT_HS256_SECRET")
        .env_remove("AXIOM_JWKS_FILE")
        .output()
        .expect("axiom runs");
    assert!(!output.status.success(), "serve started without its JWKS");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fetching the JWKS"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(
        !dir.path().join(axiom::node::serve::CONTROL_SECRET_FILE).exists(),
        "a JWKS URL server generated an HS256 secret"
    );
}

#[actix_rt::test]
async fn control_plane_with_jwks_url() {
    let (trusted, untrusted) = (rsa_key("a"), rsa_key("b"));
    let server = JwksServer::start(jwks(&[(&trusted, "rsa-1")]));
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = server.url();
    let args = serve_args(dir.path(), &["--jwks-url", &url, "--jwks-refresh-s", "1"]);
    let node = Node::start(args).expect("node starts");
    node.mark_ready();
    let authenticator = Authenticator::new(&AuthSettings::from_serve_args(&node.config), Arc::clone(&node.metrics))
        .expect("authenticator");
    let app = test::init_service(axiom::http::app(node, Arc::new(authenticator))).await;

    let admin = claims(&["securityadmin"], TENANT);
    let mut expired = admin.clone();
    expired.exp = now_s() - 120;
    let cases = [
        (rs256(&trusted, "rsa-1", &admin), StatusCode::OK, None),
        (rs256(&untrusted, "rsa-1", &admin), StatusCode::UNAUTHORIZED, Some("invalid_token")),
        (rs256(&trusted, "rsa-1", &expired), StatusCode::UNAUTHORIZED, Some("expired_token")),
    ];
    for (bearer, status, code) in cases {
        let request = TestRequest::get()
            .uri("/v1/keys")
            .insert_header(("Authorization", bearer))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), status);
        let body: serde_json::Value = test::read_body_json(response).await;
        if let Some(code) = code {
            assert_eq!(body["error"], code, "{body}");
        }
    }
}
