//! The limits the stateless checks enforce.

use crate::settings::SettingsSnapshot;

/// Default largest request accepted, in bytes (64 KiB). A typical signed intent is about 1 KiB;
/// the limit leaves room for large `params` while bounding parse time and memory per request.
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 64 * 1024;

/// Smallest nonce accepted, in decoded bytes: 128 random bits make a collision between honest
/// agents negligible.
pub const NONCE_BYTES_MIN: usize = 16;

/// Largest nonce accepted, in decoded bytes. Nonces are kept in replay windows until their
/// certificate expires, so their size bounds that memory.
pub const NONCE_BYTES_MAX: usize = 64;

/// The limits of one authentication, copied from the live settings for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLimits {
    /// Largest request accepted, in bytes.
    pub request_bytes_max: usize,
    /// Allowed clock difference between agent and engine, in milliseconds.
    pub clock_skew_ms: u64,
    /// Longest certificate lifetime (`expires_at - issued_at`) accepted, in milliseconds;
    /// 0 rejects every certificate.
    pub acceptance_ttl_ms: u64,
}

impl CheckLimits {
    /// Takes the clock skew and acceptance TTL from the live settings.
    pub fn from_settings(settings: &SettingsSnapshot, request_bytes_max: usize) -> CheckLimits {
        CheckLimits {
            request_bytes_max,
            clock_skew_ms: settings.clock_skew_ms,
            acceptance_ttl_ms: settings.acceptance_ttl_ms,
        }
    }
}

impl Default for CheckLimits {
    fn default() -> Self {
        CheckLimits::from_settings(&SettingsSnapshot::default(), REQUEST_BYTES_MAX_DEFAULT)
    }
}
