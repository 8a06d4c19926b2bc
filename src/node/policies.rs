//! The published policy of each (tenant, domain), compiled once and shared.

use axiom_engine::policy::CompiledPolicy;
use dashmap::DashMap;
use std::sync::Arc;

/// A published policy version, ready for the request path.
#[derive(Debug)]
pub struct PublishedPolicy {
    /// Stable id of the version, for example `finance@v18`.
    pub policy_set_id: String,
    /// The policy text it was compiled from, kept for replay and diff.
    pub source: String,
    /// The compiled form; requests never re-parse `source`.
    pub compiled: Arc<CompiledPolicy>,
}

/// The current published version per (tenant, domain). Publishing swaps one entry, so a
/// request sees either the old or the new version, never a mix.
#[derive(Debug, Default)]
pub struct PolicyRegistry {
    current: DashMap<(String, String), Arc<PublishedPolicy>>,
}

impl PolicyRegistry {
    /// Creates an empty registry.
    pub fn new() -> Self {
        PolicyRegistry::default()
    }

    /// Returns the version the server selects for an action of `tenant` in `domain`.
    pub fn current(&self, tenant: &str, domain: &str) -> Option<Arc<PublishedPolicy>> {
        self.current
            .get(&(tenant.to_owned(), domain.to_owned()))
            .map(|entry| Arc::clone(entry.value()))
    }

    /// Makes `policy` the current version of its tenant and domain; returns the one it replaced.
    pub fn publish(&self, tenant: &str, policy: PublishedPolicy) -> Option<Arc<PublishedPolicy>> {
        let key = (tenant.to_owned(), policy.compiled.domain.clone());
        self.current.insert(key, Arc::new(policy))
    }

    /// Removes the current version of a tenant and domain (after it is retired).
    pub fn retire(&self, tenant: &str, domain: &str) -> Option<Arc<PublishedPolicy>> {
        self.current
            .remove(&(tenant.to_owned(), domain.to_owned()))
            .map(|(_, policy)| policy)
    }

    /// Lists the current versions of a tenant as (domain, policy set id).
    pub fn list(&self, tenant: &str) -> Vec<(String, String)> {
        let mut versions: Vec<(String, String)> = self
            .current
            .iter()
            .filter(|entry| entry.key().0 == tenant)
            .map(|entry| (entry.key().1.clone(), entry.value().policy_set_id.clone()))
            .collect();
        versions.sort();
        versions
    }
}
