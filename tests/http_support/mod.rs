//! Shared setup of the control-plane tests: a real node on a temporary fjall directory, the
//! real authenticator, and token minting.

#![allow(dead_code)]

use axiom::http::auth::{mint_hs256, AuthSettings, Authenticator, Claims};
use axiom::node::{Node, ServeArgs};
use clap::Parser;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// HS256 secret of the test servers.
pub const SECRET: &str = "test-secret-of-at-least-32-bytes-long!";
/// The tenant most tests act as.
pub const TENANT: &str = "acme";
/// Another tenant, whose data must stay invisible to `TENANT`'s tokens.
pub const OTHER_TENANT: &str = "globex";
pub const ISSUER: &str = "axiom";
pub const AUDIENCE: &str = "axiom-control";

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A started node and the authenticator of its control plane.
pub struct TestNode {
    pub node: Arc<Node>,
    pub authenticator: Arc<Authenticator>,
    pub dir: tempfile::TempDir,
}

/// Returns `axiom serve` flags for a node in `dir`, with `extra` flags appended.
pub fn serve_args(dir: &std::path::Path, extra: &[&str]) -> ServeArgs {
    let data_dir = dir.display().to_string();
    let mut argv = vec![
        "axiom",
        "--data-dir",
        &data_dir,
        "--no-demo-tenant",
        "--shards",
        "2",
        "--smt-workers",
        "1",
        "--jwt-hs256-secret",
        SECRET,
    ];
    argv.extend_from_slice(extra);
    Flags::parse_from(argv).serve
}

/// Starts a ready node on a fresh temporary directory. Must run inside an actix System.
pub fn start_node() -> TestNode {
    let dir = tempfile::tempdir().expect("temporary directory");
    start_node_in(dir)
}

/// Starts a ready node on `dir` (to test restarts). Must run inside an actix System.
pub fn start_node_in(dir: tempfile::TempDir) -> TestNode {
    let args = serve_args(dir.path(), &[]);
    let node = Node::start(args).expect("node starts");
    node.mark_ready();
    let authenticator = Authenticator::new(
        &AuthSettings::from_serve_args(&node.config),
        Arc::clone(&node.metrics),
    )
    .expect("authenticator");
    TestNode {
        node,
        authenticator: Arc::new(authenticator),
        dir,
    }
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Claims of a valid token for `roles` of `tenant`, living ten minutes.
pub fn claims(roles: &[&str], tenant: &str) -> Claims {
    Claims {
        sub: format!("{}-user", roles.first().copied().unwrap_or("nobody")),
        tenant: tenant.to_owned(),
        roles: roles.iter().map(|role| role.to_string()).collect(),
        platform: tenant == "*",
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: now_s() + 600,
        nbf: None,
        iat: Some(now_s()),
    }
}

/// A valid HS256 token for one role of `tenant` (`"*"` makes it platform-wide).
pub fn token(role: &str, tenant: &str) -> String {
    mint_hs256(SECRET, &claims(&[role], tenant)).expect("token")
}

/// A token whose `exp` passed well beyond the leeway.
pub fn expired_token(role: &str) -> String {
    let mut expired = claims(&[role], TENANT);
    expired.exp = now_s() - 3_600;
    mint_hs256(SECRET, &expired).expect("token")
}

/// A token signed with another secret.
pub fn forged_token(role: &str) -> String {
    mint_hs256("another-secret-of-at-least-32-bytes!!", &claims(&[role], TENANT)).expect("token")
}

/// A signed-envelope intent of `tenant` for `actor`, with no required sources.
pub fn intent(tenant: &str, actor: &str) -> serde_json::Value {
    serde_json::json!({
        "intent_id": uuid::Uuid::new_v4().to_string(),
        "idempotency_key": uuid::Uuid::new_v4().to_string(),
        "actor": {"id": actor, "tenant": tenant, "roles": ["FinanceOperator"]},
        "target": {
            "domain": "finance",
            "object_types": ["report"],
            "object_ids": ["r-1"],
            "scope": "single"
        },
        "operation": {"name": "read_report", "params": {}},
        "data_requirements": {
            "required_sources": [],
            "max_staleness_sec": 60,
            "uncertainty_budget": {}
        },
        "time": {"request_time": axiom::http::unix_now_ms()}
    })
}
