//! Certificate validity checks against the engine's clock.

use super::limits::CheckLimits;
use super::rejection::CheckFailure;
use crate::model::{Certificate, ReasonCode};

/// Checks the certificate's validity window at `now_ms`, in this order:
///
/// - `CERT_EXPIRED` when `expires_at` is not after `issued_at`, or `now_ms` is past
///   `expires_at` plus the clock skew.
/// - `CERT_NOT_YET_VALID` when `issued_at` is more than the clock skew ahead of `now_ms`.
/// - `CERT_TTL_EXCEEDED` when the lifetime exceeds the acceptance TTL, or the TTL is 0.
pub fn check_times(
    certificate: &Certificate,
    limits: &CheckLimits,
    now_ms: i64,
) -> Result<(), CheckFailure> {
    let issued_at = i128::from(certificate.issued_at);
    let expires_at = i128::from(certificate.expires_at);
    let now = i128::from(now_ms);
    let skew = i128::from(limits.clock_skew_ms);

    if expires_at <= issued_at {
        return Err(CheckFailure::new(
            ReasonCode::CertExpired,
            format!("certificate expires_at {expires_at} is not after issued_at {issued_at}"),
        ));
    }
    if now > expires_at + skew {
        return Err(CheckFailure::new(
            ReasonCode::CertExpired,
            format!(
                "certificate expired at {expires_at} (Unix ms); engine time is {now_ms}, \
                 clock skew allowed {skew} ms"
            ),
        ));
    }
    if issued_at > now + skew {
        return Err(CheckFailure::new(
            ReasonCode::CertNotYetValid,
            format!(
                "certificate issued_at {issued_at} is in the future; engine time is {now_ms}, \
                 clock skew allowed {skew} ms"
            ),
        ));
    }

    let lifetime_ms = expires_at - issued_at;
    if limits.acceptance_ttl_ms == 0 {
        return Err(CheckFailure::new(
            ReasonCode::CertTtlExceeded,
            "acceptance TTL is 0, so no certificate is accepted".to_owned(),
        ));
    }
    if lifetime_ms > i128::from(limits.acceptance_ttl_ms) {
        return Err(CheckFailure::new(
            ReasonCode::CertTtlExceeded,
            format!(
                "certificate lifetime {lifetime_ms} ms exceeds the acceptance TTL of {} ms",
                limits.acceptance_ttl_ms
            ),
        ));
    }
    Ok(())
}
