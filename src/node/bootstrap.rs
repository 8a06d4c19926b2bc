//! The embedded defaults that make `axiom serve` useful with no flags: a demo tenant with an
//! agent key, the finance policy and an accounts-payable budget.

use super::decide::unix_now_ms;
use super::build::write_secret_file;
use super::Node;
use anyhow::{anyhow, Context};
use axiom_engine::crypto::KeyPair;
use axiom_engine::keys::{KeyRecord, ANY_ACTOR};
use axiom_engine::shard::{BudgetDefinition, BudgetScope};
use rust_decimal::Decimal;
use std::path::PathBuf;

/// Tenant created on first start.
pub const DEMO_TENANT: &str = "demo";
/// Domain of the demo policy.
pub const DEMO_DOMAIN: &str = "finance";
/// File name of the demo agent's key inside the data directory.
pub const DEMO_AGENT_KEY_FILE: &str = "demo-agent.key";
/// Budget code the demo policy reads.
pub const DEMO_BUDGET_CODE: &str = "AP";
/// Accounts-payable amount per day for the whole demo tenant.
pub const DEMO_BUDGET_LIMIT: Decimal = Decimal::from_parts(500_000, 0, 0, false, 2);
/// One day, the demo budget's period, in milliseconds.
pub const DEMO_BUDGET_PERIOD_MS: u64 = 24 * 60 * 60 * 1_000;
/// The demo tenant's finance policy.
pub const DEMO_POLICY: &str = include_str!("defaults/finance.policy");
/// Principal recorded as the author of embedded policies.
pub const BOOTSTRAP_AUTHOR: &str = "axiom-bootstrap";

/// The demo tenant the bootstrap created or found.
#[derive(Debug, Clone)]
pub struct DemoTenant {
    /// Tenant id.
    pub tenant: String,
    /// Key id of the demo agent key.
    pub kid: String,
    /// Path of the demo agent key file.
    pub key_file: PathBuf,
    /// Policy set id of the published demo policy.
    pub policy_set_id: String,
}

impl Node {
    /// Creates the demo tenant's key, policy and budget when they do not exist yet.
    pub async fn bootstrap_demo_tenant(&self) -> anyhow::Result<DemoTenant> {
        let key_file = self.config.data_dir.join(DEMO_AGENT_KEY_FILE);
        let pair = if key_file.exists() {
            let text = std::fs::read(&key_file)
                .with_context(|| format!("reading {}", key_file.display()))?;
            KeyPair::from_key_file_json(&text)
                .map_err(|error| anyhow!("demo agent key {} is invalid: {error}", key_file.display()))?
        } else {
            let pair = KeyPair::generate();
            write_secret_file(&key_file, &serde_json::to_vec_pretty(&pair.to_key_file())?)?;
            pair
        };

        let kid = pair.kid().to_owned();
        if self.keys.get(&kid).is_none() {
            let mut record = KeyRecord::new(
                DEMO_TENANT,
                pair.public_key(),
                vec![ANY_ACTOR.to_owned()],
                unix_now_ms(),
            );
            record.kid = kid.clone();
            self.store
                .keys()
                .put(DEMO_TENANT, &kid, &record)
                .context("storing the demo agent key")?;
            self.keys
                .register(record)
                .map_err(|error| anyhow!("registering the demo agent key failed: {error}"))?;
        }

        let policy_set_id = match self.policies.current(DEMO_TENANT, DEMO_DOMAIN) {
            Some(policy) => policy.policy_set_id.clone(),
            None => {
                self.publish_policy_directly(DEMO_TENANT, DEMO_POLICY, BOOTSTRAP_AUTHOR)?
                    .policy_set_id
                    .clone()
            }
        };

        if self.budget_scope(DEMO_TENANT, DEMO_BUDGET_CODE).is_none() {
            self.set_budget(
                DEMO_TENANT,
                BudgetDefinition {
                    code: DEMO_BUDGET_CODE.to_owned(),
                    scope: BudgetScope::Tenant,
                    limit: DEMO_BUDGET_LIMIT,
                    period_ms: DEMO_BUDGET_PERIOD_MS,
                },
            )
            .await?;
        }

        tracing::info!(tenant = DEMO_TENANT, kid = %kid, policy = %policy_set_id, "demo tenant ready");
        Ok(DemoTenant {
            tenant: DEMO_TENANT.to_owned(),
            kid,
            key_file,
            policy_set_id,
        })
    }
}
