//! rustls and quinn configuration for both sides: TLS 1.3 only, ring provider, ALPN `axiom/1`,
//! no 0-RTT, and QUIC transport parameters derived from the limits.

use crate::client::ServerTrust;
use crate::codes::ALPN;
use crate::error::TransportError;
use crate::frame::FRAME_HEADER_BYTES;
use crate::identity::{read_certificates, TlsIdentity};
use crate::limits::{ClientLimits, TransportLimits};
use crate::server::ClientAuth;
use crate::verify::{PinnedClientVerifier, PinnedServerVerifier};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{IdleTimeout, TransportConfig, VarInt};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// QUIC requires TLS 1.3 (RFC 9001, section 4.2), so no other version is offered.
static TLS_VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the server's QUIC crypto configuration.
///
/// 0-RTT stays off (rustls' `max_early_data_size` keeps its default of 0) because early data can
/// be replayed by an attacker.
pub(crate) fn server_crypto(
    identity: &TlsIdentity,
    client_auth: Option<&ClientAuth>,
) -> Result<QuicServerConfig, TransportError> {
    let provider = crypto_provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(TLS_VERSIONS)?;

    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(ClientAuth::CaFile(path)) => {
            let roots = load_roots(path)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|source| TransportError::ClientVerifier {
                        path: path.clone(),
                        source,
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        Some(ClientAuth::PinnedFingerprints(allowed)) => {
            if allowed.is_empty() {
                return Err(TransportError::NoPinnedClients);
            }
            let verifier = PinnedClientVerifier::new(
                allowed.clone(),
                provider.signature_verification_algorithms,
            );
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
    };

    let mut tls = builder.with_single_cert(identity.chain_owned(), identity.key_owned())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    QuicServerConfig::try_from(tls).map_err(|_| TransportError::NoQuicCipherSuite)
}

/// The client's QUIC crypto configuration, with the pinned verifier kept so a failed handshake
/// can report which certificate the server presented.
pub(crate) struct ClientCrypto {
    pub config: QuicClientConfig,
    pub pinned: Option<Arc<PinnedServerVerifier>>,
}

/// Builds the client's QUIC crypto configuration.
pub(crate) fn client_crypto(
    trust: &ServerTrust,
    identity: Option<&TlsIdentity>,
) -> Result<ClientCrypto, TransportError> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(TLS_VERSIONS)?;

    let (builder, pinned) = match trust {
        ServerTrust::PinnedFingerprint(fingerprint) => {
            let verifier = Arc::new(PinnedServerVerifier::new(
                *fingerprint,
                provider.signature_verification_algorithms,
            ));
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier.clone());
            (builder, Some(verifier))
        }
        ServerTrust::CaFile(path) => (builder.with_root_certificates(load_roots(path)?), None),
    };

    let mut tls = match identity {
        Some(identity) => {
            builder.with_client_auth_cert(identity.chain_owned(), identity.key_owned())?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];

    let config = QuicClientConfig::try_from(tls).map_err(|_| TransportError::NoQuicCipherSuite)?;
    Ok(ClientCrypto { config, pinned })
}

fn load_roots(path: &Path) -> Result<RootCertStore, TransportError> {
    let certificates = read_certificates(path)?;
    if certificates.is_empty() {
        return Err(TransportError::NoCertificate {
            path: path.to_path_buf(),
        });
    }

    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|source| TransportError::TrustAnchor {
                path: path.to_path_buf(),
                source,
            })?;
    }
    Ok(roots)
}

/// Builds the server's QUIC transport parameters. Clients may open only bidirectional streams,
/// and datagrams are off.
pub(crate) fn server_transport(limits: &TransportLimits) -> Result<TransportConfig, TransportError> {
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(limits.streams_per_connection_max))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(idle_timeout("idle_timeout_ms", limits.idle_timeout_ms)?))
        .stream_receive_window(VarInt::from_u32(frame_window(limits.request_bytes_max)))
        .receive_window(VarInt::from_u32(limits.connection_receive_bytes_max))
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

/// Builds the client's QUIC transport parameters. The server never opens streams.
pub(crate) fn client_transport(limits: &ClientLimits) -> Result<TransportConfig, TransportError> {
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(0))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(Some(idle_timeout("idle_timeout_ms", limits.idle_timeout_ms)?))
        .stream_receive_window(VarInt::from_u32(frame_window(limits.response_bytes_max)))
        .keep_alive_interval(limits.keep_alive_interval_ms.map(Duration::from_millis))
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

/// Per-stream receive window: one whole frame, so stream flow control never stalls a
/// well-formed frame. The connection window can still make it wait while other streams are busy.
fn frame_window(payload_bytes_max: u32) -> u32 {
    payload_bytes_max.saturating_add(FRAME_HEADER_BYTES as u32)
}

fn idle_timeout(name: &'static str, milliseconds: u64) -> Result<IdleTimeout, TransportError> {
    let value = VarInt::from_u64(milliseconds).map_err(|_| TransportError::InvalidLimit {
        name,
        value: milliseconds,
        min: 1,
        max: VarInt::MAX.into_inner(),
    })?;
    Ok(IdleTimeout::from(value))
}
