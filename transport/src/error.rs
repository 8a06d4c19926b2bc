//! Errors of server setup and TLS identity handling.

use crate::fingerprint::FingerprintError;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure to configure or start the transport. Client-side failures during a
/// connection or request are [`crate::ClientError`].
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A file could not be read.
    #[error("failed to read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A file or directory could not be written.
    #[error("failed to write `{path}`: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A PEM file contains no `CERTIFICATE` block.
    #[error("no certificate found in `{path}`; expected a PEM `CERTIFICATE` block")]
    NoCertificate {
        /// The PEM file.
        path: PathBuf,
    },

    /// A PEM file contains no private key block.
    #[error("no private key found in `{path}`; expected a PEM PKCS#8, PKCS#1 or SEC1 private key")]
    NoPrivateKey {
        /// The PEM file.
        path: PathBuf,
    },

    /// The private key cannot be used with the certificate: unsupported algorithm or a key that
    /// belongs to another certificate.
    #[error("private key `{key_path}` cannot sign for certificate `{cert_path}`: {source}")]
    KeyMismatch {
        /// The certificate file.
        cert_path: PathBuf,
        /// The key file.
        key_path: PathBuf,
        /// The rustls error.
        source: rustls::Error,
    },

    /// A generated key file is readable by group or others.
    #[error("private key `{path}` has mode {mode:o}, readable by group or others; run `chmod 600` on it")]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The data directory contains a certificate without its private key. The certificate may
    /// already be pinned by clients, so a new identity is not generated silently.
    #[error(
        "certificate `{cert_path}` exists but its private key `{key_path}` is missing; \
         restore the key, or remove the certificate to generate a new identity and re-pin clients"
    )]
    IncompleteIdentity {
        /// The certificate file.
        cert_path: PathBuf,
        /// The missing key file.
        key_path: PathBuf,
    },

    /// rcgen could not generate the self-signed certificate.
    #[error("failed to generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),

    /// rustls rejected the TLS configuration.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] rustls::Error),

    /// The TLS configuration offers no cipher suite QUIC can use for its initial packets.
    #[error("the TLS configuration has no TLS 1.3 cipher suite usable by QUIC")]
    NoQuicCipherSuite,

    /// The CA file for client authentication produced no usable verifier.
    #[error("failed to build the client certificate verifier from `{path}`: {source}")]
    ClientVerifier {
        /// The CA file.
        path: PathBuf,
        /// The rustls error.
        source: rustls::server::VerifierBuilderError,
    },

    /// Client authentication by pinned fingerprints was configured with an empty list, which
    /// would reject every client.
    #[error("client authentication pins no client certificate fingerprints; add at least one")]
    NoPinnedClients,

    /// A CA file contains a certificate rustls cannot use as a trust anchor.
    #[error("invalid CA certificate in `{path}`: {source}")]
    TrustAnchor {
        /// The CA file.
        path: PathBuf,
        /// The rustls error.
        source: rustls::Error,
    },

    /// The UDP socket could not be bound.
    #[error("failed to bind UDP socket on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The I/O error.
        source: io::Error,
    },

    /// A limit is zero or outside what QUIC or the framing can express.
    #[error("invalid limit `{name}` = {value}; expected a value from {min} to {max}")]
    InvalidLimit {
        /// The limit's field name.
        name: &'static str,
        /// The configured value.
        value: u64,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },

    /// A pinned fingerprint could not be parsed.
    #[error(transparent)]
    Fingerprint(#[from] FingerprintError),
}
