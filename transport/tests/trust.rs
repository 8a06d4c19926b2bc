//! Certificate trust on both sides: server pinning, CA trust, and client authentication by
//! pinned fingerprint or by CA.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_transport::{
    Client, ClientAuth, ClientConfig, ClientError, ServerTrust, TlsIdentity, TransportLimits,
};
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::pki_types::PrivateKeyDer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_fails_with_mismatch() {
    let server = start_server(TransportLimits::default(), None).await;
    let other = TlsIdentity::generate_self_signed(&localhost_names()).unwrap();
    let config = ClientConfig {
        trust: ServerTrust::PinnedFingerprint(other.fingerprint()),
        ..pinned_config(&server)
    };

    let error = Client::connect(config).await.unwrap_err();

    match error {
        ClientError::FingerprintMismatch { expected, actual } => {
            assert_eq!(expected, other.fingerprint());
            assert_eq!(actual, server.fingerprint());
        }
        other => panic!("expected a fingerprint mismatch, got {other}"),
    }
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_pin_connects() {
    let server = start_server(TransportLimits::default(), None).await;
    let client = Client::connect(pinned_config(&server)).await.unwrap();

    let response = parse(&client.request(sum_request(&[20, 22])).await.unwrap());

    assert_eq!(response["sum"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_trust_checks_name() {
    let dir = tempfile::tempdir().unwrap();
    let identity = TlsIdentity::load_or_generate(dir.path(), &localhost_names()).unwrap();
    let server = start_server_with(identity, TransportLimits::default(), None).await;
    let ca_path = dir.path().join("tls").join("cert.pem");

    let trusted = ClientConfig {
        trust: ServerTrust::CaFile(ca_path.clone()),
        ..pinned_config(&server)
    };
    let client = Client::connect(trusted).await.unwrap();
    let response = parse(&client.request(sum_request(&[1, 1])).await.unwrap());
    assert_eq!(response["sum"], 2);

    let wrong_name = ClientConfig {
        server_name: "other.example".to_owned(),
        trust: ServerTrust::CaFile(ca_path),
        ..pinned_config(&server)
    };
    let error = Client::connect(wrong_name).await.unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "got {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_client_auth_required() {
    let agent = TlsIdentity::generate_self_signed(&["agent-1".to_owned()]).unwrap();
    let stranger = TlsIdentity::generate_self_signed(&["agent-2".to_owned()]).unwrap();
    let client_auth = ClientAuth::PinnedFingerprints(vec![agent.fingerprint()]);
    let server = start_server(TransportLimits::default(), Some(client_auth)).await;

    let anonymous = pinned_config(&server);
    let error = connect_and_request(anonymous).await.unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "without a certificate: {error}");

    let unpinned = ClientConfig {
        client_identity: Some(stranger),
        ..pinned_config(&server)
    };
    let error = connect_and_request(unpinned).await.unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "unpinned certificate: {error}");

    let pinned = ClientConfig {
        client_identity: Some(agent.clone()),
        ..pinned_config(&server)
    };
    let response = connect_and_request(pinned).await.unwrap();
    assert_eq!(response["sum"], 9);
    assert_eq!(response["client_fingerprint"], agent.fingerprint().to_string());
    assert_eq!(server.handler.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(server.handle.stats().snapshot().handshake_failures_total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_client_auth_required() {
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("clients-ca.pem");
    let ca = TestCa::new();
    std::fs::write(&ca_path, ca.certificate.pem()).unwrap();
    let server = start_server(TransportLimits::default(), Some(ClientAuth::CaFile(ca_path))).await;

    let issued = ca.issue_client("agent-1");
    let response = connect_and_request(ClientConfig {
        client_identity: Some(issued.clone()),
        ..pinned_config(&server)
    })
    .await
    .unwrap();
    assert_eq!(response["client_fingerprint"], issued.fingerprint().to_string());

    let self_signed = TlsIdentity::generate_self_signed(&["agent-1".to_owned()]).unwrap();
    let error = connect_and_request(ClientConfig {
        client_identity: Some(self_signed),
        ..pinned_config(&server)
    })
    .await
    .unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "certificate from another issuer: {error}");

    let error = connect_and_request(pinned_config(&server)).await.unwrap_err();
    assert!(matches!(error, ClientError::Handshake { .. }), "without a certificate: {error}");
}

/// Connects and sends one sum request. With TLS 1.3 a client may finish its handshake before
/// the server has checked the client certificate, so a rejection can surface on either step.
async fn connect_and_request(config: ClientConfig) -> Result<serde_json::Value, ClientError> {
    let client = Client::connect(config).await?;
    let response = client.request(sum_request(&[4, 5])).await?;
    Ok(parse(&response))
}

/// A throwaway certificate authority for client certificates.
struct TestCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    fn new() -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "axiom test client CA");
        let certificate = params.self_signed(&key).unwrap();
        TestCa { certificate, key }
    }

    fn issue_client(&self, name: &str) -> TlsIdentity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params.signed_by(&key, &self.certificate, &self.key).unwrap();
        let key_der = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        TlsIdentity::from_der(vec![certificate.der().clone()], key_der).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_alpn_rejected() {
    let server = start_server(TransportLimits::default(), None).await;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.identity.chain()[0].clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"other/1".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let config = quinn::ClientConfig::new(std::sync::Arc::new(crypto));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();

    let error = endpoint
        .connect_with(config, server.addr(), "localhost")
        .unwrap()
        .await
        .unwrap_err();

    // TLS alert 120, no_application_protocol, carried as QUIC error 0x100 + 120.
    match error {
        quinn::ConnectionError::ConnectionClosed(close) => {
            assert_eq!(close.error_code, quinn::TransportErrorCode::crypto(120));
        }
        other => panic!("expected the server to abort the handshake, got {other}"),
    }
}
