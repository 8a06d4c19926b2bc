//! Public keys of bearer tokens from a JWKS: read from a file once, or fetched from a
//! configured URL at start and re-fetched on a background thread.
//!
//! A fetched key set replaces the previous one only when it parses completely, so a failed or
//! invalid refresh keeps the last good keys and tokens keep verifying.

use crate::http::client::{self, Limits};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// Maximum number of keys accepted from a JWKS.
pub const JWKS_KEYS_MAX: usize = 64;
/// Largest JWKS document fetched from a URL, in bytes. 64 RSA-4096 keys take about 50 KiB,
/// so 256 KiB leaves room without letting a broken endpoint fill memory.
pub const JWKS_BYTES_MAX: u64 = 256 * 1024;
/// Time limit of connecting to the JWKS URL, and of each read or write, in milliseconds. An
/// identity provider inside the cluster responds in milliseconds. The bound keeps a dead one
/// from stalling the start of `axiom serve` or a refresh for long.
pub const JWKS_FETCH_TIMEOUT_MS: u64 = 5_000;
/// Default time between fetches of the JWKS URL, in seconds. Identity providers publish a
/// new key well before they sign with it, so five minutes is ample.
pub const JWKS_REFRESH_S_DEFAULT: u64 = 300;
/// Shortest accepted time between fetches, in seconds, so that a typo cannot make the server
/// poll its identity provider in a loop.
pub const JWKS_REFRESH_S_MIN: u64 = 1;

/// A public key of the JWKS.
pub(crate) struct JwksKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Parses a JWKS document into its Ed25519 and RSA keys. Any other key type, an empty set or
/// more than [`JWKS_KEYS_MAX`] keys make the whole document invalid.
pub(crate) fn parse_jwks(text: &str) -> Result<Vec<JwksKey>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|json| format!("invalid JWKS JSON: {json}"))?;
    if set.keys.len() > JWKS_KEYS_MAX {
        return Err(format!(
            "{} keys, above the limit of {JWKS_KEYS_MAX}",
            set.keys.len()
        ));
    }

    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let kid = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => return Err(format!("key `{kid}` is neither Ed25519 nor RSA")),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|jwt| format!("key `{kid}`: {jwt}"))?;
        keys.push(JwksKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err("the JWKS contains no keys".to_owned());
    }
    Ok(keys)
}

/// Reads and parses a JWKS file.
pub(crate) fn load_file(path: &Path) -> Result<Vec<JwksKey>, String> {
    let text = std::fs::read_to_string(path).map_err(|io| io.to_string())?;
    parse_jwks(&text)
}

/// An `http://` address of a JWKS, checked when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUrl(String);

impl JwksUrl {
    /// Checks that `text` is a plain `http://host[:port][/path]` URL without credentials.
    /// `https://` is rejected because the built-in client has no TLS.
    pub fn parse(text: &str) -> Result<JwksUrl, String> {
        let scheme = text.get(..8).unwrap_or("");
        if scheme.eq_ignore_ascii_case("https://") {
            return Err(
                "https:// is not supported because the built-in HTTP client has no TLS: \
                 mount the JWKS as a file and pass --jwks-file, or serve it over plain http:// \
                 inside the cluster"
                    .to_owned(),
            );
        }
        let Some(rest) = text.strip_prefix("http://") else {
            return Err("expected an http://host[:port]/path URL".to_owned());
        };
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() {
            return Err("the URL names no host".to_owned());
        }
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".to_owned());
        }
        Ok(JwksUrl(text.to_owned()))
    }

    /// Returns the URL text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Fetches the JWKS document at `url` within [`JWKS_FETCH_TIMEOUT_MS`] and [`JWKS_BYTES_MAX`],
/// returning its text. Redirects are not followed, so only the configured address is read.
// NOTE: resolving a host name goes through the system resolver, which the timeout does not
// cover. A stalled DNS server can delay the start or a refresh beyond JWKS_FETCH_TIMEOUT_MS.
fn fetch_text(url: &JwksUrl) -> Result<String, String> {
    let limits = Limits {
        io_timeout_ms: JWKS_FETCH_TIMEOUT_MS,
        response_bytes_max: JWKS_BYTES_MAX,
    };
    let response = client::get_url(url.as_str(), limits).map_err(|error| error.to_string())?;
    if response.status != 200 {
        return Err(format!("the server returned status {}, expected 200", response.status));
    }
    Ok(response.body)
}

/// The current key set, swapped whole by the refresh thread while requests read it.
#[derive(Default)]
pub(crate) struct LiveKeys {
    keys: RwLock<Arc<Vec<JwksKey>>>,
}

impl LiveKeys {
    pub fn new(keys: Vec<JwksKey>) -> LiveKeys {
        LiveKeys {
            keys: RwLock::new(Arc::new(keys)),
        }
    }

    /// Returns the current key set, which a concurrent refresh leaves unchanged.
    pub fn snapshot(&self) -> Arc<Vec<JwksKey>> {
        Arc::clone(&self.keys.read())
    }

    fn replace(&self, keys: Vec<JwksKey>) {
        *self.keys.write() = Arc::new(keys);
    }
}

/// The background thread re-fetching a JWKS URL. Dropping this value stops the thread after
/// its current fetch, without waiting for it.
pub(crate) struct RefreshTask {
    _stop: mpsc::Sender<()>,
}

impl RefreshTask {
    /// Starts a thread that fetches `url` every `interval` into `keys`. `last_text` is the
    /// document fetched at start, and an identical document is not parsed again.
    pub fn start(
        url: JwksUrl,
        interval: Duration,
        keys: Arc<LiveKeys>,
        last_text: String,
    ) -> std::io::Result<RefreshTask> {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("jwks-refresh".to_owned())
            .spawn(move || refresh_loop(&url, interval, &keys, last_text, &stopped))?;
        Ok(RefreshTask { _stop: stop })
    }
}

fn refresh_loop(
    url: &JwksUrl,
    interval: Duration,
    keys: &LiveKeys,
    mut last_text: String,
    stopped: &mpsc::Receiver<()>,
) {
    let mut failures: u64 = 0;
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }

        let fetched = fetch_text(url).and_then(|text| {
            if text == last_text {
                return Ok(None);
            }
            parse_jwks(&text).map(|parsed| Some((text, parsed)))
        });
        match fetched {
            Ok(None) => {
                failures = 0;
                tracing::debug!(url = %url, "JWKS unchanged");
            }
            Ok(Some((text, parsed))) => {
                failures = 0;
                tracing::info!(url = %url, keys = parsed.len(), "JWKS refreshed with new keys");
                keys.replace(parsed);
                last_text = text;
            }
            Err(error) => {
                failures += 1;
                tracing::warn!(
                    url = %url,
                    %error,
                    consecutive_failures = failures,
                    "JWKS refresh failed; keeping the previous keys"
                );
            }
        }
    }
}

/// Fetches the JWKS at `url` for the start of the server, returning the parsed keys and the
/// document text that later refreshes compare against.
pub(crate) fn fetch_initial(url: &JwksUrl) -> Result<(Vec<JwksKey>, String), String> {
    let text = fetch_text(url)?;
    let keys = parse_jwks(&text)?;
    Ok((keys, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert!(JwksUrl::parse("http://idp.internal:8080/.well-known/jwks.json").is_ok());
        let https = JwksUrl::parse("HTTPS://idp.example/jwks").err().unwrap_or_default();
        assert!(https.contains("--jwks-file"), "{https}");
        assert!(JwksUrl::parse("ftp://idp/jwks").is_err());
        assert!(JwksUrl::parse("httpé://idp").is_err());
        assert!(JwksUrl::parse("http:///jwks").is_err());
        assert!(JwksUrl::parse("http://user:pass@idp/jwks").is_err());
    }

    #[test]
    fn invalid_documents_are_rejected() {
        assert!(parse_jwks("not json").is_err());
        assert!(parse_jwks(r#"{"keys": []}"#).is_err());
        let symmetric = r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}"#;
        assert!(parse_jwks(symmetric).is_err());
    }
}
