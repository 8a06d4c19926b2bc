//! Node operations shared by the decision path, the control plane and the demo: budgets,
//! policy publication, escrow creation and incident recording.

use super::decide::unix_now_ms;
use super::policies::PublishedPolicy;
use super::recovery::{budget_definition_id, StoredBudget};
use super::Node;
use anyhow::{anyhow, Context};
use axiom_engine::checks::AuthenticatedRequest;
use axiom_engine::escrow::{Escrow, NewEscrow};
use axiom_engine::incidents::IncidentOpening;
use axiom_engine::lifecycle::{NewPolicyVersion, PolicyState, PolicyVersion};
use axiom_engine::model::{EscrowSummary, Verdict};
use axiom_engine::shard::{BudgetDefinition, BudgetScope};
use std::sync::Arc;

/// Approver role recorded on versions published directly, without the approval workflow.
const BOOTSTRAP_APPROVER_ROLE: &str = "complianceofficer";
/// Most budget definitions loaded at start.
const BUDGETS_MAX: usize = 100_000;

impl Node {
    /// Defines or replaces a budget of a tenant, in the shard (which persists it) and in the
    /// node's scope map.
    pub async fn set_budget(&self, tenant: &str, definition: BudgetDefinition) -> anyhow::Result<()> {
        self.shards
            .set_budget(tenant, definition.clone())
            .await
            .map_err(|error| anyhow!("budget `{}` is invalid: {error}", definition.code))?;
        self.store
            .budgets()
            .put(
                tenant,
                &budget_definition_id(&definition.code),
                &StoredBudget::from_definition(&definition),
            )
            .context("storing the budget")?;
        self.budgets
            .insert((tenant.to_owned(), definition.code.clone()), definition);
        Ok(())
    }

    /// Returns the scope of a tenant's budget, for the reservation an ALLOW makes.
    pub fn budget_scope(&self, tenant: &str, code: &str) -> Option<BudgetScope> {
        self.budgets
            .get(&(tenant.to_owned(), code.to_owned()))
            .map(|definition| definition.scope)
    }

    /// Loads the budget definitions into the scope map.
    pub(super) fn restore_budgets(&self) -> anyhow::Result<()> {
        let rows: Vec<(String, String, serde_json::Value)> = self
            .store
            .budgets()
            .list_all(BUDGETS_MAX)
            .context("reading budgets")?;
        for (tenant, id, value) in rows {
            if !id.starts_with("def/") {
                continue;
            }
            let stored: StoredBudget = serde_json::from_value(value)
                .with_context(|| format!("budget `{id}` of `{tenant}` is unreadable"))?;
            if let Some(definition) = stored.to_definition() {
                self.budgets.insert((tenant, definition.code.clone()), definition);
            }
        }
        Ok(())
    }

    /// Compiles, checks and publishes a policy for a tenant directly, without the approval
    /// workflow: used for the embedded demo tenant and by operators' bootstrap. The version is
    /// stored as PUBLISHED and replaces the current one of its domain.
    pub fn publish_policy_directly(
        &self,
        tenant: &str,
        source: &str,
        author: &str,
    ) -> anyhow::Result<Arc<PublishedPolicy>> {
        let compiled = axiom_engine::policy::compile(source).map_err(|diagnostics| {
            let lines: Vec<String> = diagnostics
                .iter()
                .map(|diagnostic| diagnostic.to_string())
                .collect();
            anyhow!("policy does not compile:\n{}", lines.join("\n"))
        })?;
        let problems = axiom_engine::policy::check_publishable(&compiled);
        if !problems.is_empty() {
            let lines: Vec<String> = problems.iter().map(|problem| problem.to_string()).collect();
            return Err(anyhow!("policy fails the publish checks:\n{}", lines.join("\n")));
        }

        let now_ms = unix_now_ms();
        let policy_set_id = compiled.policy_set_id();
        let mut version = PolicyVersion::draft(NewPolicyVersion {
            tenant: tenant.to_owned(),
            domain: compiled.domain.clone(),
            policy_set_id: compiled.name.clone(),
            version_number: compiled.version,
            source: source.to_owned(),
            author: author.to_owned(),
            quorum: 1,
            approver_roles: vec![BOOTSTRAP_APPROVER_ROLE.to_owned()],
            created_at_ms: now_ms,
        })
        .map_err(|error| anyhow!("policy version is invalid: {error}"))?;
        version.state = PolicyState::Published;
        version.published_at_ms = Some(now_ms);
        self.store
            .policy_versions()
            .put(tenant, &policy_set_id, &version)
            .context("storing the policy version")?;

        let published = PublishedPolicy {
            policy_set_id,
            source: source.to_owned(),
            compiled: Arc::new(compiled),
        };
        self.policies.publish(tenant, published);
        self.policies
            .current(tenant, &version.domain)
            .ok_or_else(|| anyhow!("published policy is not current"))
    }

    /// Creates and stores the escrow of an ESCROW decision; returns its summary.
    pub(super) fn open_escrow(
        &self,
        decision_id: &str,
        request: &AuthenticatedRequest,
        verdict: Verdict,
        now_ms: i64,
    ) -> anyhow::Result<EscrowSummary> {
        debug_assert_eq!(verdict, Verdict::Escrow, "only ESCROW decisions open escrows");
        let intent = &request.envelope.intent;
        let certificate = &request.envelope.certificate;
        let policy = self.policies.current(&intent.actor.tenant, &intent.target.domain);
        let (policy_set_id, approvals) = match &policy {
            Some(policy) => (policy.policy_set_id.clone(), policy.compiled.approvals.clone()),
            None => (String::new(), Default::default()),
        };
        let expires_in_ms = i64::try_from(approvals.expires_in_ms).unwrap_or(i64::MAX);

        let escrow = Escrow::open(NewEscrow {
            escrow_id: format!("esc-{}", uuid::Uuid::now_v7()),
            tenant: intent.actor.tenant.clone(),
            decision_id: decision_id.to_owned(),
            requesting_actor: intent.actor.id.clone(),
            key_id: certificate.kid.clone(),
            key_owner: request.key.kid.clone(),
            intent: intent.clone(),
            rollback_plan: certificate.rollback_plan.clone(),
            policy_set_id,
            approvals_required: approvals.required.max(1),
            approver_roles: approvals.roles.clone(),
            sod: approvals.sod,
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(expires_in_ms.max(1)),
        })
        .map_err(|error| anyhow!("escrow is invalid: {error}"))?;
        // Not fsynced here: the decision's audit record, appended right after, is fsynced
        // before the response leaves, and fjall keeps one journal for every keyspace.
        self.store
            .escrows()
            .put_unsynced(&escrow.tenant, &escrow.escrow_id, &escrow)
            .context("storing the escrow")?;
        self.workflow.escrow_stored(&escrow);

        Ok(EscrowSummary {
            escrow_id: escrow.escrow_id.clone(),
            status: escrow.status.as_str().to_owned(),
            expires_at: escrow.expires_at_ms,
            approvals_required: escrow.approvals_required,
        })
    }

    /// Persists an incident opening; a storage failure is logged, never turned into an ALLOW.
    pub(super) fn open_incident(&self, opening: IncidentOpening) {
        if let Err(error) = crate::http::incidents::record_incident(self, &opening) {
            tracing::error!(
                tenant = %opening.tenant,
                reason_code = %opening.reason_code,
                %error,
                "incident could not be stored"
            );
        }
    }
}
