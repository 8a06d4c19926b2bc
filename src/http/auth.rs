//! Bearer JWT authentication of the control plane.
//!
//! Tokens carry `sub` (the principal id), `tenant`, `roles`, `iss`, `aud`, `exp` and
//! optionally `nbf` and `platform`. HS256 tokens are checked against a shared secret
//! (development); EdDSA and RS256 tokens against the public keys of a JWKS, read from a file
//! or fetched from a URL and refreshed (production).
//! A tenant of `"*"` is platform-wide and is accepted only together with `"platform": true`,
//! so a token cannot become platform-wide by a typo in its tenant.

use crate::http::error::ApiError;
use crate::http::jwks::{self, JwksKey, JwksUrl, LiveKeys, RefreshTask};
use crate::http::roles::{Permission, Role};
use crate::node::metrics::{AuthRejection, Metrics};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};
use std::sync::Arc;
use std::time::Duration;

/// Clock difference tolerated on `exp` and `nbf`, in seconds: token issuers and this server
/// run on different machines, and 30 s covers ordinary NTP drift without keeping an expired
/// token useful for long.
pub const TOKEN_LEEWAY_S: u64 = 30;
/// Longest accepted bearer token, in bytes. Real tokens are well under 2 KiB; the bound keeps
/// a hostile header from costing a large base64 decode.
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;
pub use crate::http::jwks::{JWKS_BYTES_MAX, JWKS_FETCH_TIMEOUT_MS, JWKS_KEYS_MAX, JWKS_REFRESH_S_DEFAULT, JWKS_REFRESH_S_MIN};
/// The `tenant` claim of platform-wide tokens.
pub const PLATFORM_TENANT: &str = "*";

/// The claims of a control-plane token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Principal id (a person or a service).
    pub sub: String,
    /// Tenant the token acts for, or `"*"` with `platform: true`.
    pub tenant: String,
    /// Role names; names this server does not know grant nothing.
    #[serde(default)]
    pub roles: Vec<String>,
    /// True for platform-wide tokens; required when `tenant` is `"*"`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub platform: bool,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Not valid before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The tenants a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Exactly one tenant.
    Tenant(String),
    /// Every tenant (`tenant: "*"` with `platform: true`).
    Platform,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    /// The tenants the caller may see.
    pub scope: TenantScope,
    /// Known roles of the token.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Checks that one of the principal's roles grants `permission`.
    pub fn require(&self, permission: Permission, action: &'static str) -> Result<(), ApiError> {
        if self.roles.iter().any(|role| permission.granted_to(*role)) {
            return Ok(());
        }
        Err(ApiError::RoleForbidden {
            roles: join_roles(&self.roles),
            action,
            required: join_roles(permission.roles()),
        })
    }

    /// Resolves the tenant a request acts on: the one it names, which must be the token's,
    /// or the token's own when it names none. Platform-wide tokens must name one.
    pub fn tenant(&self, requested: Option<&str>) -> Result<String, ApiError> {
        match (&self.scope, requested) {
            (TenantScope::Tenant(own), None) => Ok(own.clone()),
            (TenantScope::Tenant(own), Some(requested)) if requested == own => Ok(own.clone()),
            (TenantScope::Tenant(_), Some(requested)) => Err(ApiError::TenantForbidden {
                requested: requested.chars().take(128).collect(),
            }),
            (TenantScope::Platform, Some(requested)) if !requested.is_empty() => {
                Ok(requested.to_owned())
            }
            (TenantScope::Platform, _) => Err(ApiError::BadRequest(
                "platform-wide tokens must name the tenant (`tenant` parameter)".to_owned(),
            )),
        }
    }

    /// Checks permission and tenant together; returns the tenant to act on.
    pub fn authorize(
        &self,
        permission: Permission,
        action: &'static str,
        requested_tenant: Option<&str>,
    ) -> Result<String, ApiError> {
        self.require(permission, action)?;
        self.tenant(requested_tenant)
    }
}

fn join_roles(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "(none)".to_owned();
    }
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors of building the authenticator.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither a secret nor a JWKS, and no explicit `--dev-no-auth`.
    #[error(
        "no bearer token verification configured: set --jwt-hs256-secret, --jwks-file or \
         --jwks-url (or --dev-no-auth for development)"
    )]
    NothingConfigured,
    /// `--dev-no-auth` with `AXIOM_ENV=production`.
    #[error("--dev-no-auth is rejected when AXIOM_ENV=production")]
    NoAuthInProduction,
    /// The HS256 secret is too short to resist guessing.
    #[error("--jwt-hs256-secret must be at least {HS256_SECRET_BYTES_MIN} bytes")]
    WeakSecret,
    /// The JWKS file could not be read or parsed.
    #[error("JWKS file `{path}`: {reason}")]
    Jwks {
        /// The file.
        path: String,
        /// The problem with the file.
        reason: String,
    },
    /// Both a JWKS file and a JWKS URL are configured.
    #[error("--jwks-file and --jwks-url are mutually exclusive: set one of them")]
    JwksSourcesConflict,
    /// The JWKS URL is not a usable `http://` address.
    #[error("invalid --jwks-url `{url}`: {reason}")]
    JwksUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The JWKS could not be fetched from its URL at start, or the document is invalid.
    #[error("fetching the JWKS from `{url}` failed: {reason}")]
    JwksFetch {
        /// The URL.
        url: String,
        /// The fetch error or the problem with the document.
        reason: String,
    },
    /// `--jwks-refresh-s` is below [`JWKS_REFRESH_S_MIN`].
    #[error("--jwks-refresh-s {seconds} is below the minimum of {JWKS_REFRESH_S_MIN} s")]
    JwksRefreshTooShort {
        /// The configured interval, in seconds.
        seconds: u64,
    },
    /// The JWKS refresh thread could not be started.
    #[error("starting the JWKS refresh thread failed: {0}")]
    RefreshThread(#[source] std::io::Error),
}

/// Shortest HS256 secret accepted, in bytes (RFC 7518 section 3.2 requires at least the hash
/// size, 256 bits).
pub const HS256_SECRET_BYTES_MIN: usize = 32;

enum Mode {
    /// `--dev-no-auth`: every request acts as a platform-wide principal with every role.
    Disabled,
    Verify {
        hs256: Option<DecodingKey>,
        /// Empty when only HS256 is configured.
        jwks: Arc<LiveKeys>,
    },
}

/// Verifies bearer tokens; shared by every worker as app data.
pub struct Authenticator {
    mode: Mode,
    issuer: String,
    audience: String,
    metrics: Arc<Metrics>,
    /// Re-fetches `--jwks-url`; dropping the authenticator stops it.
    _jwks_refresh: Option<RefreshTask>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.mode {
            Mode::Disabled => "disabled".to_owned(),
            Mode::Verify { hs256, jwks } => {
                format!("hs256: {}, jwks keys: {}", hs256.is_some(), jwks.snapshot().len())
            }
        };
        f.debug_struct("Authenticator")
            .field("mode", &mode)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Settings of the authenticator, built from `ServeArgs`.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HS256 secret (development).
    pub hs256_secret: Option<String>,
    /// JWKS file with EdDSA or RS256 public keys.
    pub jwks_file: Option<std::path::PathBuf>,
    /// `http://` URL of a JWKS, fetched at start and every `jwks_refresh_s`; excludes
    /// `jwks_file`.
    pub jwks_url: Option<String>,
    /// Time between fetches of `jwks_url`, in seconds.
    pub jwks_refresh_s: u64,
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Serve without authentication.
    pub dev_no_auth: bool,
    /// Deployment environment (`production` forbids `dev_no_auth`).
    pub environment: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            hs256_secret: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_s: JWKS_REFRESH_S_DEFAULT,
            issuer: String::new(),
            audience: String::new(),
            dev_no_auth: false,
            environment: String::new(),
        }
    }
}

impl AuthSettings {
    /// Copies the authentication flags of `axiom serve`.
    pub fn from_serve_args(args: &crate::node::ServeArgs) -> AuthSettings {
        AuthSettings {
            hs256_secret: args.jwt_hs256_secret.clone(),
            jwks_file: args.jwks_file.clone(),
            jwks_url: args.jwks_url.clone(),
            jwks_refresh_s: args.jwks_refresh_s,
            issuer: args.jwt_issuer.clone(),
            audience: args.jwt_audience.clone(),
            dev_no_auth: args.dev_no_auth,
            environment: args.environment.clone(),
        }
    }
}

impl Authenticator {
    /// Builds the authenticator; fails when nothing verifies tokens, when `--dev-no-auth` is
    /// asked for in production, or when the JWKS file or URL is unusable. With a JWKS URL it
    /// blocks for the first fetch (at most [`JWKS_FETCH_TIMEOUT_MS`] per connect, read or
    /// write) and starts the refresh thread.
    pub fn new(settings: &AuthSettings, metrics: Arc<Metrics>) -> Result<Authenticator, AuthConfigError> {
        let mut jwks_refresh = None;
        let mode = if settings.dev_no_auth {
            if settings.environment.eq_ignore_ascii_case("production") {
                return Err(AuthConfigError::NoAuthInProduction);
            }
            tracing::warn!("control plane runs WITHOUT authentication (--dev-no-auth)");
            Mode::Disabled
        } else {
            let hs256 = match &settings.hs256_secret {
                Some(secret) if secret.len() < HS256_SECRET_BYTES_MIN => {
                    return Err(AuthConfigError::WeakSecret)
                }
                Some(secret) => Some(DecodingKey::from_secret(secret.as_bytes())),
                None => None,
            };
            let jwks = match (&settings.jwks_file, &settings.jwks_url) {
                (Some(_), Some(_)) => return Err(AuthConfigError::JwksSourcesConflict),
                (Some(path), None) => {
                    let keys = jwks::load_file(path).map_err(|reason| AuthConfigError::Jwks {
                        path: path.display().to_string(),
                        reason,
                    })?;
                    Arc::new(LiveKeys::new(keys))
                }
                (None, Some(url)) => {
                    let (keys, refresh) = start_jwks_url(url, settings.jwks_refresh_s)?;
                    jwks_refresh = Some(refresh);
                    keys
                }
                (None, None) => Arc::new(LiveKeys::default()),
            };
            if hs256.is_none() && jwks.snapshot().is_empty() {
                return Err(AuthConfigError::NothingConfigured);
            }
            Mode::Verify { hs256, jwks }
        };

        Ok(Authenticator {
            mode,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            metrics,
            _jwks_refresh: jwks_refresh,
        })
    }

    /// Authenticates the `Authorization` header value of a request.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let result = self.authenticate_inner(authorization);
        if let Err(error) = &result {
            let rejection = match error {
                ApiError::MissingToken => AuthRejection::MissingToken,
                ApiError::ExpiredToken => AuthRejection::ExpiredToken,
                _ => AuthRejection::InvalidToken,
            };
            self.metrics.observe_auth_rejection(rejection);
            tracing::debug!(error = %error, "bearer token rejected");
        }
        result
    }

    fn authenticate_inner(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let (hs256, jwks) = match &self.mode {
            Mode::Disabled => {
                return Ok(Principal {
                    subject: "dev-no-auth".to_owned(),
                    scope: TenantScope::Platform,
                    roles: Role::ALL.to_vec(),
                })
            }
            Mode::Verify { hs256, jwks } => (hs256, jwks.snapshot()),
        };

        let header = authorization.ok_or(ApiError::MissingToken)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::InvalidToken("the scheme must be `Bearer`".to_owned()))?
            .trim();
        if token.len() > TOKEN_BYTES_MAX {
            return Err(ApiError::InvalidToken(format!(
                "token is {} bytes, above the limit of {TOKEN_BYTES_MAX}",
                token.len()
            )));
        }

        let token_header = jsonwebtoken::decode_header(token)
            .map_err(|error| ApiError::InvalidToken(format!("header: {error}")))?;
        let key = match token_header.alg {
            Algorithm::HS256 => hs256.as_ref().ok_or_else(|| {
                ApiError::InvalidToken("HS256 tokens are not accepted by this server".to_owned())
            })?,
            Algorithm::EdDSA | Algorithm::RS256 => {
                select_jwks_key(&jwks, token_header.alg, token_header.kid.as_deref())?
            }
            other => {
                return Err(ApiError::InvalidToken(format!(
                    "algorithm {other:?} is not accepted (HS256, EdDSA or RS256)"
                )))
            }
        };

        let mut validation = Validation::new(token_header.alg);
        validation.leeway = TOKEN_LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => ApiError::ExpiredToken,
                ErrorKind::ImmatureSignature => {
                    ApiError::InvalidToken("token is not valid yet (nbf)".to_owned())
                }
                _ => ApiError::InvalidToken(error.to_string()),
            })?
            .claims;

        principal_from_claims(claims)
    }
}

fn principal_from_claims(claims: Claims) -> Result<Principal, ApiError> {
    if claims.sub.is_empty() {
        return Err(ApiError::InvalidToken("`sub` is empty".to_owned()));
    }
    let scope = match (claims.tenant.as_str(), claims.platform) {
        (PLATFORM_TENANT, true) => TenantScope::Platform,
        (PLATFORM_TENANT, false) => {
            return Err(ApiError::InvalidToken(
                "tenant `*` needs the claim `platform: true`".to_owned(),
            ))
        }
        (_, true) => {
            return Err(ApiError::InvalidToken(
                "`platform: true` needs tenant `*`".to_owned(),
            ))
        }
        ("", false) => return Err(ApiError::InvalidToken("`tenant` is empty".to_owned())),
        (tenant, false) => TenantScope::Tenant(tenant.to_owned()),
    };
    let roles = claims
        .roles
        .iter()
        .filter_map(|name| Role::parse(name))
        .collect();
    Ok(Principal {
        subject: claims.sub,
        scope,
        roles,
    })
}

fn select_jwks_key<'k>(
    jwks: &'k [JwksKey],
    algorithm: Algorithm,
    kid: Option<&str>,
) -> Result<&'k DecodingKey, ApiError> {
    let mut candidates = jwks.iter().filter(|key| key.algorithm == algorithm);
    let found = match kid {
        Some(kid) => candidates.find(|key| key.kid.as_deref() == Some(kid)),
        None => {
            let first = candidates.next();
            if candidates.next().is_some() {
                return Err(ApiError::InvalidToken(
                    "token has no `kid` and the JWKS contains several keys of its algorithm; add a `kid` header".to_owned(),
                ));
            }
            first
        }
    };
    found
        .map(|key| &key.key)
        .ok_or_else(|| ApiError::InvalidToken(format!("no {algorithm:?} key matches the token's kid")))
}

/// Checks the JWKS URL and refresh interval, fetches the key set once and starts its refresh.
fn start_jwks_url(url: &str, refresh_s: u64) -> Result<(Arc<LiveKeys>, RefreshTask), AuthConfigError> {
    let parsed = JwksUrl::parse(url).map_err(|reason| AuthConfigError::JwksUrl {
        url: url.to_owned(),
        reason,
    })?;
    if refresh_s < JWKS_REFRESH_S_MIN {
        return Err(AuthConfigError::JwksRefreshTooShort { seconds: refresh_s });
    }

    let (keys, text) = jwks::fetch_initial(&parsed).map_err(|reason| AuthConfigError::JwksFetch {
        url: url.to_owned(),
        reason,
    })?;
    tracing::info!(url, keys = keys.len(), refresh_s, "JWKS fetched");

    let live = Arc::new(LiveKeys::new(keys));
    let refresh = RefreshTask::start(parsed, Duration::from_secs(refresh_s), Arc::clone(&live), text)
        .map_err(AuthConfigError::RefreshThread)?;
    Ok((live, refresh))
}

/// Mints an HS256 token, for `axiom token` and tests.
pub fn mint_hs256(secret: &str, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(authenticator) = request.app_data::<web::Data<Authenticator>>() else {
            return ready(Err(ApiError::Internal(
                "authenticator missing from app data".to_owned(),
            )));
        };
        let header = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or(""));
        ready(authenticator.authenticate(header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(tenant: &str, platform: bool) -> Claims {
        Claims {
            sub: "alice".into(),
            tenant: tenant.into(),
            roles: vec!["sre".into(), "wizard".into()],
            platform,
            iss: "axiom".into(),
            aud: "axiom-control".into(),
            exp: 4_000_000_000,
            nbf: None,
            iat: None,
        }
    }

    #[test]
    fn star_tenant_needs_platform_claim() {
        assert!(principal_from_claims(claims("*", false)).is_err());
        assert!(principal_from_claims(claims("acme", true)).is_err());
        let platform = principal_from_claims(claims("*", true));
        assert_eq!(platform.map(|p| p.scope).ok(), Some(TenantScope::Platform));
    }

    #[test]
    fn unknown_roles_grant_nothing() {
        let principal = principal_from_claims(claims("acme", false));
        assert_eq!(principal.map(|p| p.roles).ok(), Some(vec![Role::Sre]));
    }

    #[test]
    fn other_tenant_is_forbidden() {
        let Ok(principal) = principal_from_claims(claims("acme", false)) else {
            panic!("valid claims rejected");
        };
        assert!(matches!(principal.tenant(Some("acme")), Ok(tenant) if tenant == "acme"));
        assert!(matches!(
            principal.tenant(Some("globex")),
            Err(ApiError::TenantForbidden { .. })
        ));
    }
}
