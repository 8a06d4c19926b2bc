//! `axiom token`: mints a development HS256 bearer token for the control plane.

use crate::http::auth::{mint_hs256, Claims, HS256_SECRET_BYTES_MIN, PLATFORM_TENANT};
use crate::http::roles::Role;
use anyhow::{bail, Context};
use clap::Args;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Maximum token lifetime `axiom token` mints, in seconds (one day): development tokens that
/// live longer are forgotten in shell histories.
pub const TOKEN_TTL_S_MAX: u64 = 86_400;

/// Flags of `axiom token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// HS256 secret; the server's `--jwt-hs256-secret`.
    #[arg(long, env = "AXIOM_JWT_HS256_SECRET", hide_env_values = true)]
    pub secret: String,
    /// Role to grant (securityadmin, complianceofficer, approver, operator, sre); repeatable.
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// Tenant the token acts for; `*` makes it platform-wide (adds `platform: true`).
    #[arg(long)]
    pub tenant: String,
    /// Principal id written to `sub`.
    #[arg(long)]
    pub sub: String,
    /// Lifetime, in seconds.
    #[arg(long, default_value_t = 3_600)]
    pub ttl_s: u64,
    /// `iss` claim; must match the server's `--jwt-issuer`.
    #[arg(long, env = "AXIOM_JWT_ISSUER", default_value = "axiom")]
    pub issuer: String,
    /// `aud` claim; must match the server's `--jwt-audience`.
    #[arg(long, env = "AXIOM_JWT_AUDIENCE", default_value = "axiom-control")]
    pub audience: String,
}

/// Prints the token on standard output.
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    println!("{}", mint(&args)?);
    Ok(ExitCode::SUCCESS)
}

/// Builds and signs the token.
pub fn mint(args: &TokenArgs) -> anyhow::Result<String> {
    if args.secret.len() < HS256_SECRET_BYTES_MIN {
        bail!("--secret must be at least {HS256_SECRET_BYTES_MIN} bytes");
    }
    if args.ttl_s == 0 || args.ttl_s > TOKEN_TTL_S_MAX {
        bail!("--ttl-s must be between 1 and {TOKEN_TTL_S_MAX}");
    }
    for role in &args.roles {
        if Role::parse(role).is_none() {
            bail!("unknown role `{role}`: use securityadmin, complianceofficer, approver, operator or sre");
        }
    }

    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs();
    let claims = Claims {
        sub: args.sub.clone(),
        tenant: args.tenant.clone(),
        roles: args.roles.clone(),
        platform: args.tenant == PLATFORM_TENANT,
        iss: args.issuer.clone(),
        aud: args.audience.clone(),
        exp: now_s + args.ttl_s,
        nbf: Some(now_s),
        iat: Some(now_s),
    };
    mint_hs256(&args.secret, &claims).context("signing the token failed")
}
