//! Policy version lifecycle: separation of duties, quorum, publish checks, replacement and
//! diffs. Each test states the rule it checks; the policy text is the finance example that
//! operators write.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axiom_engine::escrow::Principal;
use axiom_engine::lifecycle::{
    self, diff_lines, LifecycleError, NewPolicyVersion, PolicyState, PolicyVersion,
};
use axiom_engine::policy::diagnostic::Diagnostic;

const TENANT: &str = "acme";
const T0_MS: i64 = 1_700_000_000_000;

const FINANCE_V18: &str = r#"policyset finance v18:
  domain finance
  approvals required 2
  approvals roles ["complianceofficer","financemanager"]
  escrow when action.params.amount > 10000
axiom Fresh_bank_feed:
  when action.name in ["pay_invoice", "refund"]
  require source("bank").age_sec <= 30
axiom Budget:
  when action.name == "pay_invoice"
  require action.params.amount + eps(1.00) <= budget.remaining("AP")
  else shield("REQUIRE_APPROVAL")
axiom Role_guard:
  when action.name == "pay_invoice"
  require "FinanceOperator" in actor.roles
  else shield("READ_ONLY")
"#;

fn principal(id: &str, roles: &[&str], tenant: &str) -> Principal {
    Principal {
        id: id.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        tenant: tenant.to_owned(),
    }
}

fn author() -> Principal {
    principal("olivia", &["complianceofficer"], TENANT)
}

fn officer(id: &str) -> Principal {
    principal(id, &["complianceofficer"], TENANT)
}

fn draft(version_number: u32, source: &str) -> PolicyVersion {
    PolicyVersion::draft(NewPolicyVersion {
        tenant: TENANT.to_owned(),
        domain: "finance".to_owned(),
        policy_set_id: "finance".to_owned(),
        version_number,
        source: source.to_owned(),
        author: "olivia".to_owned(),
        quorum: 2,
        approver_roles: vec!["complianceofficer".to_owned(), "securityadmin".to_owned()],
        created_at_ms: T0_MS,
    })
    .expect("valid draft")
}

/// Drafts, submits and approves a version with two distinct officers.
fn approved(version_number: u32, source: &str) -> PolicyVersion {
    let submitted = lifecycle::submit(&draft(version_number, source), &author(), T0_MS + 1)
        .expect("author submits");
    let once = lifecycle::approve(&submitted, &officer("peter"), T0_MS + 2).expect("first approval");
    lifecycle::approve(&once, &officer("quinn"), T0_MS + 3).expect("second approval")
}

const NO_DIAGNOSTICS: &[Diagnostic] = &[];

#[test]
fn only_author_submits() {
    let version = draft(18, FINANCE_V18);

    let error = lifecycle::submit(&version, &officer("peter"), T0_MS + 1).expect_err("not author");
    assert!(matches!(error, LifecycleError::NotAuthor { .. }), "{error}");

    let submitted = lifecycle::submit(&version, &author(), T0_MS + 1).expect("author submits");
    assert_eq!(submitted.state, PolicyState::PendingApproval);
    assert_eq!(submitted.version, version.version + 1);
    assert_eq!(submitted.submitted_at_ms, Some(T0_MS + 1));
}

#[test]
fn author_cannot_approve_own_version() {
    let submitted = lifecycle::submit(&draft(18, FINANCE_V18), &author(), T0_MS + 1).expect("submit");

    let error = lifecycle::approve(&submitted, &author(), T0_MS + 2).expect_err("self approval");
    assert!(matches!(error, LifecycleError::AuthorCannotApprove { .. }), "{error}");
    assert!(error.is_forbidden());
}

#[test]
fn quorum_needs_distinct_approvers() {
    let submitted = lifecycle::submit(&draft(18, FINANCE_V18), &author(), T0_MS + 1).expect("submit");
    let once = lifecycle::approve(&submitted, &officer("peter"), T0_MS + 2).expect("approval");

    let error = lifecycle::approve(&once, &officer("peter"), T0_MS + 3).expect_err("repeat");
    assert!(matches!(error, LifecycleError::DuplicateApprover { .. }), "{error}");

    // One approval of a quorum of two does not allow publication.
    let error = lifecycle::publish(&once, None, &officer("peter"), NO_DIAGNOSTICS, T0_MS + 4)
        .expect_err("quorum missing");
    assert!(
        matches!(error, LifecycleError::QuorumNotReached { approvals: 1, quorum: 2, .. }),
        "{error}"
    );

    let twice = lifecycle::approve(&once, &officer("quinn"), T0_MS + 3).expect("second approver");
    assert!(twice.quorum_reached());
    let error = lifecycle::approve(&twice, &officer("rita"), T0_MS + 4).expect_err("past quorum");
    assert!(matches!(error, LifecycleError::QuorumAlreadyReached { .. }), "{error}");
}

#[test]
fn approvers_need_role_and_tenant() {
    let submitted = lifecycle::submit(&draft(18, FINANCE_V18), &author(), T0_MS + 1).expect("submit");

    let sre = principal("sam", &["sre"], TENANT);
    let error = lifecycle::approve(&submitted, &sre, T0_MS + 2).expect_err("no role");
    assert!(matches!(error, LifecycleError::MissingRole { .. }), "{error}");

    let foreign = principal("peter", &["complianceofficer"], "globex");
    let error = lifecycle::approve(&submitted, &foreign, T0_MS + 2).expect_err("other tenant");
    assert!(matches!(error, LifecycleError::WrongTenant { .. }), "{error}");
}

#[test]
fn publish_blocked_by_diagnostics() {
    let candidate = approved(18, FINANCE_V18);
    let diagnostics = vec![
        Diagnostic {
            line: 8,
            column: 11,
            message: "axiom `Fresh_bank_feed` is vacuous: its `when` never holds".to_owned(),
        },
        Diagnostic {
            line: 11,
            column: 3,
            message: "unknown field `budget.left`".to_owned(),
        },
    ];

    let error = lifecycle::publish(&candidate, None, &officer("peter"), &diagnostics, T0_MS + 5)
        .expect_err("diagnostics block publication");
    match &error {
        LifecycleError::PublishBlocked { diagnostics: listed, .. } => {
            assert_eq!(listed.len(), 2);
            assert_eq!(listed[0], "8:11: axiom `Fresh_bank_feed` is vacuous: its `when` never holds");
            assert_eq!(listed[1], "11:3: unknown field `budget.left`");
        }
        other => panic!("expected PublishBlocked, got {other}"),
    }
    assert!(error.to_string().contains("11:3: unknown field `budget.left`"), "{error}");
}

#[test]
fn publish_retires_previous() {
    let first = lifecycle::publish(&approved(18, FINANCE_V18), None, &officer("peter"), NO_DIAGNOSTICS, T0_MS + 5)
        .expect("first publication");
    assert_eq!(first.published.state, PolicyState::Published);
    assert_eq!(first.published.published_at_ms, Some(T0_MS + 5));
    assert!(first.retired.is_none());

    let v19_source = FINANCE_V18.replace("v18", "v19");
    let second = lifecycle::publish(
        &approved(19, &v19_source),
        Some(&first.published),
        &officer("quinn"),
        NO_DIAGNOSTICS,
        T0_MS + 10,
    )
    .expect("second publication");

    assert_eq!(second.published.version_number, 19);
    assert_eq!(second.published.state, PolicyState::Published);
    let retired = second.retired.expect("previous version retired");
    assert_eq!(retired.version_number, 18);
    assert_eq!(retired.state, PolicyState::Retired);
    assert_eq!(retired.retired_at_ms, Some(T0_MS + 10));
    // The retired record is a new version of the stored v18, for compare-and-set.
    assert_eq!(retired.version, first.published.version + 1);
}

#[test]
fn older_version_cannot_replace_newer() {
    let newer = lifecycle::publish(&approved(19, FINANCE_V18), None, &officer("peter"), NO_DIAGNOSTICS, T0_MS + 5)
        .expect("publication")
        .published;

    let error = lifecycle::publish(&approved(18, FINANCE_V18), Some(&newer), &officer("peter"), NO_DIAGNOSTICS, T0_MS + 6)
        .expect_err("downgrade");
    assert!(matches!(error, LifecycleError::CurrentMismatch { .. }), "{error}");
}

#[test]
fn current_of_another_domain_is_rejected() {
    let mut other_domain = lifecycle::publish(&approved(3, FINANCE_V18), None, &officer("peter"), NO_DIAGNOSTICS, T0_MS + 5)
        .expect("publication")
        .published;
    other_domain.domain = "hr".to_owned();

    let error = lifecycle::publish(&approved(4, FINANCE_V18), Some(&other_domain), &officer("peter"), NO_DIAGNOSTICS, T0_MS + 6)
        .expect_err("wrong domain");
    assert!(matches!(error, LifecycleError::CurrentMismatch { .. }), "{error}");
}

#[test]
fn lifecycle_rejects_illegal_transitions() {
    let version = draft(18, FINANCE_V18);
    let by = officer("peter");

    let error = lifecycle::approve(&version, &by, T0_MS).expect_err("draft approval");
    assert!(matches!(error, LifecycleError::InvalidTransition { state: PolicyState::Draft, .. }), "{error}");
    let error = lifecycle::retire(&version, &by, T0_MS).expect_err("draft retirement");
    assert!(matches!(error, LifecycleError::InvalidTransition { .. }), "{error}");

    let published = lifecycle::publish(&approved(18, FINANCE_V18), None, &by, NO_DIAGNOSTICS, T0_MS + 5)
        .expect("publication")
        .published;
    let error = lifecycle::revise(&published, &author(), "policyset x v1:\n", T0_MS + 6).expect_err("published text is frozen");
    assert!(matches!(error, LifecycleError::InvalidTransition { .. }), "{error}");

    let retired = lifecycle::retire(&published, &by, T0_MS + 7).expect("retire");
    assert_eq!(retired.state, PolicyState::Retired);
    let error = lifecycle::retire(&retired, &by, T0_MS + 8).expect_err("retired twice");
    assert!(matches!(error, LifecycleError::InvalidTransition { state: PolicyState::Retired, .. }), "{error}");
}

#[test]
fn draft_limits_are_checked() {
    let mut new = NewPolicyVersion {
        tenant: TENANT.to_owned(),
        domain: "finance".to_owned(),
        policy_set_id: "finance".to_owned(),
        version_number: 1,
        source: "  \n".to_owned(),
        author: "olivia".to_owned(),
        quorum: 2,
        approver_roles: vec!["complianceofficer".to_owned()],
        created_at_ms: T0_MS,
    };
    assert!(matches!(PolicyVersion::draft(new.clone()), Err(LifecycleError::InvalidVersion(_))));

    new.source = "x".repeat(lifecycle::POLICY_SOURCE_BYTES_MAX + 1);
    assert!(matches!(PolicyVersion::draft(new.clone()), Err(LifecycleError::InvalidVersion(_))));

    new.source = FINANCE_V18.to_owned();
    new.quorum = 0;
    assert!(matches!(PolicyVersion::draft(new.clone()), Err(LifecycleError::InvalidVersion(_))));

    new.quorum = 2;
    assert!(PolicyVersion::draft(new).is_ok());
}

#[test]
fn diff_shows_changed_axiom() {
    let v19 = FINANCE_V18
        .replace("policyset finance v18:", "policyset finance v19:")
        .replace(
            "  require action.params.amount + eps(1.00) <= budget.remaining(\"AP\")",
            "  require action.params.amount + eps(5.00) <= budget.remaining(\"AP\") - 100",
        );

    let diff = diff_lines("finance v18", FINANCE_V18, "finance v19", &v19).expect("diff");

    let expected = "\
--- finance v18
+++ finance v19
@@ -1,4 +1,4 @@
-policyset finance v18:
+policyset finance v19:
   domain finance
   approvals required 2
   approvals roles [\"complianceofficer\",\"financemanager\"]
@@ -8,7 +8,7 @@
   require source(\"bank\").age_sec <= 30
 axiom Budget:
   when action.name == \"pay_invoice\"
-  require action.params.amount + eps(1.00) <= budget.remaining(\"AP\")
+  require action.params.amount + eps(5.00) <= budget.remaining(\"AP\") - 100
   else shield(\"REQUIRE_APPROVAL\")
 axiom Role_guard:
   when action.name == \"pay_invoice\"
";
    assert_eq!(diff, expected);
}

#[test]
fn diff_of_added_axiom() {
    let extended = format!(
        "{FINANCE_V18}axiom Batch_cap:\n  when action.scope == \"batch\"\n  require batch.size <= 100\n"
    );
    let diff = diff_lines("v18", FINANCE_V18, "v19", &extended).expect("diff");
    assert!(diff.starts_with("--- v18\n+++ v19\n@@ -14,3 +14,6 @@\n"), "{diff}");
    assert!(diff.ends_with("+axiom Batch_cap:\n+  when action.scope == \"batch\"\n+  require batch.size <= 100\n"), "{diff}");
    assert_eq!(diff.lines().filter(|line| line.starts_with('-') && !line.starts_with("---")).count(), 0);
}
