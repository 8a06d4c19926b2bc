//! Certificate verifiers that trust exact certificate fingerprints instead of a CA.
//!
//! Both still check the TLS 1.3 handshake signature with the ring provider's algorithms, so a
//! peer must hold the private key of the pinned certificate, not just a copy of it. They do not
//! check names or validity dates: the pin names one exact certificate.

use crate::fingerprint::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::sync::OnceLock;

/// The server certificate a pinned client saw when it did not match the pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("server certificate fingerprint {actual} does not match the pinned {expected}")]
pub(crate) struct FingerprintMismatch {
    pub expected: Fingerprint,
    pub actual: Fingerprint,
}

/// Accepts exactly one server certificate, identified by its fingerprint.
#[derive(Debug)]
pub(crate) struct PinnedServerVerifier {
    pinned: Fingerprint,
    algorithms: WebPkiSupportedAlgorithms,
    /// The first mismatch seen, so the client can report both fingerprints after the handshake
    /// fails (quinn reports only the TLS alert).
    mismatch: OnceLock<FingerprintMismatch>,
}

impl PinnedServerVerifier {
    pub(crate) fn new(pinned: Fingerprint, algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedServerVerifier {
            pinned,
            algorithms,
            mismatch: OnceLock::new(),
        }
    }

    pub(crate) fn mismatch(&self) -> Option<FingerprintMismatch> {
        self.mismatch.get().copied()
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = Fingerprint::of_der(end_entity);
        if actual.matches(&self.pinned) {
            return Ok(ServerCertVerified::assertion());
        }

        let mismatch = FingerprintMismatch {
            expected: self.pinned,
            actual,
        };
        let _ = self.mismatch.set(mismatch);
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Requires a client certificate whose fingerprint is in a fixed set.
#[derive(Debug)]
pub(crate) struct PinnedClientVerifier {
    allowed: Vec<Fingerprint>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientVerifier {
    pub(crate) fn new(allowed: Vec<Fingerprint>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedClientVerifier {
            allowed,
            algorithms,
        }
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // With an empty hint list, the client sends whatever certificate it has.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let presented = Fingerprint::of_der(end_entity);
        if self.allowed.iter().any(|allowed| allowed.matches(&presented)) {
            return Ok(ClientCertVerified::assertion());
        }

        tracing::warn!(fingerprint = %presented, "rejected a client certificate that is not pinned");
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
