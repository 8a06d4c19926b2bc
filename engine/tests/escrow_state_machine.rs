//! Model-based test of the escrow state machine.
//!
//! Goal: no sequence of operations by any mix of principals can take an escrow through an
//! illegal transition, let the requester or the key owner approve under separation of
//! duties, execute without a quorum, or execute twice. Method: proptest generates escrows
//! and random operation sequences by principals of every kind (approvers, the requester, the
//! key owner, a principal without an approver role, another tenant's approver, repeats); each
//! step runs against the real escrow functions and against a small reference model, and the
//! accepted/rejected outcome, the error kind and the resulting status must agree. Invariants
//! are then checked on the real escrow's own fields, independently of the model.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axiom_engine::escrow::{
    self, Escrow, EscrowError, EscrowStatus, ExecutionOutcome, NewEscrow, PendingCause, Principal,
    Reverification,
};
use axiom_engine::model::{Intent, RollbackPlan};
use proptest::prelude::*;

const TENANT: &str = "acme";
const REQUESTER: &str = "agent-7";
const KEY_OWNER: &str = "key-owner-1";
const APPROVER_ROLES: [&str; 2] = ["complianceofficer", "financemanager"];
const CREATED_AT_MS: i64 = 1_700_000_000_000;

fn intent() -> Intent {
    serde_json::from_value(serde_json::json!({
        "intent_id": "i-1",
        "idempotency_key": "k-1",
        "actor": {"id": REQUESTER, "tenant": TENANT, "roles": ["FinanceOperator"]},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": "25000.00"}},
        "data_requirements": {"required_sources": ["bank"], "max_staleness_sec": 30},
        "time": {"request_time": CREATED_AT_MS}
    }))
    .expect("test intent is valid")
}

/// Every principal the generator may pick, by index.
fn principals() -> Vec<Principal> {
    let principal = |id: &str, roles: &[&str], tenant: &str| Principal {
        id: id.to_owned(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        tenant: tenant.to_owned(),
    };
    vec![
        principal("alice", &["complianceofficer"], TENANT),
        principal("bob", &["financemanager"], TENANT),
        principal("carol", &["complianceofficer", "sre"], TENANT),
        principal("dave", &["financemanager"], TENANT),
        // The requester and the key owner hold approver roles, so only separation of duties
        // can stop them.
        principal(REQUESTER, &["complianceofficer"], TENANT),
        principal(KEY_OWNER, &["financemanager"], TENANT),
        principal("sam", &["sre", "operator"], TENANT),
        principal("mallory", &["complianceofficer", "financemanager"], "globex"),
        // Same id as an approver of this tenant, but from another tenant.
        principal("alice", &["complianceofficer"], "globex"),
    ]
}

#[derive(Debug, Clone)]
enum Operation {
    Approve(usize),
    Cancel(usize),
    Expire,
    BeginExecute(usize, Reverification),
    RecordExecution(bool),
    Rollback(usize),
    Close(usize),
    AdvanceTime(i64),
}

fn operation_strategy() -> impl Strategy<Value = Operation> {
    let principal = 0..principals().len();
    let reverification = prop_oneof![
        6 => Just(Reverification::Passed),
        1 => Just(Reverification::Failed { reason: "signing key is no longer active".to_owned() }),
        1 => Just(Reverification::Pending {
            cause: PendingCause::StateNotFresh,
            reason: "required source `bank` is stale".to_owned(),
        }),
        1 => Just(Reverification::Pending {
            cause: PendingCause::Unavailable,
            reason: "the verifier is unavailable".to_owned(),
        }),
    ];
    prop_oneof![
        6 => principal.clone().prop_map(Operation::Approve),
        1 => principal.clone().prop_map(Operation::Cancel),
        1 => Just(Operation::Expire),
        4 => (principal.clone(), reverification).prop_map(|(p, r)| Operation::BeginExecute(p, r)),
        3 => any::<bool>().prop_map(Operation::RecordExecution),
        2 => principal.clone().prop_map(Operation::Rollback),
        2 => principal.prop_map(Operation::Close),
        1 => (0i64..40_000).prop_map(Operation::AdvanceTime),
    ]
}

/// Error kinds, so the model can predict which rule rejects an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    InvalidTransition,
    Expired,
    NotYetExpired,
    WrongTenant,
    MissingRole,
    SeparationOfDuties,
    DuplicateApprover,
    QuorumNotReached,
    NoRollbackPlan,
    NeverExecuted,
    ReverificationPending,
}

fn rejection_of(error: &EscrowError) -> Rejection {
    match error {
        EscrowError::InvalidTransition { .. } => Rejection::InvalidTransition,
        EscrowError::Expired { .. } => Rejection::Expired,
        EscrowError::NotYetExpired { .. } => Rejection::NotYetExpired,
        EscrowError::WrongTenant { .. } => Rejection::WrongTenant,
        EscrowError::MissingRole { .. } => Rejection::MissingRole,
        EscrowError::SeparationOfDuties { .. } => Rejection::SeparationOfDuties,
        EscrowError::DuplicateApprover { .. } => Rejection::DuplicateApprover,
        EscrowError::QuorumNotReached { .. } => Rejection::QuorumNotReached,
        EscrowError::NoRollbackPlan { .. } => Rejection::NoRollbackPlan,
        EscrowError::NeverExecuted { .. } => Rejection::NeverExecuted,
        EscrowError::ReverificationPending { .. } => Rejection::ReverificationPending,
        other => panic!("unexpected error kind in the model test: {other}"),
    }
}

/// The reference model: the workflow rules written as plainly as possible.
#[derive(Debug, Clone)]
struct Model {
    status: EscrowStatus,
    approvers: Vec<String>,
    required: usize,
    sod: bool,
    has_plan: bool,
    execution_started: bool,
    expires_at_ms: i64,
}

impl Model {
    fn is_approver(principal: &Principal) -> bool {
        principal
            .roles
            .iter()
            .any(|role| APPROVER_ROLES.contains(&role.as_str()))
    }

    fn may_operate(principal: &Principal) -> bool {
        Self::is_approver(principal) || principal.id == REQUESTER
    }

    /// Applies an operation; returns the rejection, or None when it is accepted.
    fn apply(&mut self, operation: &Operation, principal: Option<&Principal>, now_ms: i64) -> Option<Rejection> {
        use EscrowStatus::*;
        let expired = now_ms >= self.expires_at_ms;
        let wrong_tenant = principal.is_some_and(|p| p.tenant != TENANT);

        match operation {
            Operation::Approve(_) => {
                let p = principal?;
                if wrong_tenant {
                    return Some(Rejection::WrongTenant);
                }
                if self.status != Pending {
                    return Some(Rejection::InvalidTransition);
                }
                if expired {
                    return Some(Rejection::Expired);
                }
                if !Self::is_approver(p) {
                    return Some(Rejection::MissingRole);
                }
                if self.sod && (p.id == REQUESTER || p.id == KEY_OWNER) {
                    return Some(Rejection::SeparationOfDuties);
                }
                if self.approvers.contains(&p.id) {
                    return Some(Rejection::DuplicateApprover);
                }
                self.approvers.push(p.id.clone());
                if self.approvers.len() >= self.required {
                    self.status = Approved;
                }
                None
            }
            Operation::Cancel(_) => {
                let p = principal?;
                if wrong_tenant {
                    return Some(Rejection::WrongTenant);
                }
                if !matches!(self.status, Pending | Approved) {
                    return Some(Rejection::InvalidTransition);
                }
                if expired {
                    return Some(Rejection::Expired);
                }
                if !Self::may_operate(p) {
                    return Some(Rejection::MissingRole);
                }
                self.status = Cancelled;
                None
            }
            Operation::Expire => {
                if !matches!(self.status, Pending | Approved) {
                    return Some(Rejection::InvalidTransition);
                }
                if !expired {
                    return Some(Rejection::NotYetExpired);
                }
                self.status = Expired;
                None
            }
            Operation::BeginExecute(_, reverification) => {
                let p = principal?;
                if wrong_tenant {
                    return Some(Rejection::WrongTenant);
                }
                if self.status == Pending {
                    return Some(Rejection::QuorumNotReached);
                }
                if self.status != Approved {
                    return Some(Rejection::InvalidTransition);
                }
                if expired {
                    return Some(Rejection::Expired);
                }
                if !Self::may_operate(p) {
                    return Some(Rejection::MissingRole);
                }
                match reverification {
                    Reverification::Passed => {
                        self.execution_started = true;
                        self.status = Executing;
                    }
                    Reverification::Failed { .. } => self.status = Failed,
                    Reverification::Pending { .. } => return Some(Rejection::ReverificationPending),
                }
                None
            }
            Operation::RecordExecution(succeeded) => {
                if self.status != Executing {
                    return Some(Rejection::InvalidTransition);
                }
                self.status = if *succeeded { Executed } else { Failed };
                None
            }
            Operation::Rollback(_) => {
                let p = principal?;
                if wrong_tenant {
                    return Some(Rejection::WrongTenant);
                }
                if !matches!(self.status, Executed | Failed) {
                    return Some(Rejection::InvalidTransition);
                }
                if !Self::may_operate(p) {
                    return Some(Rejection::MissingRole);
                }
                if !self.execution_started {
                    return Some(Rejection::NeverExecuted);
                }
                if !self.has_plan {
                    return Some(Rejection::NoRollbackPlan);
                }
                self.status = RolledBack;
                None
            }
            Operation::Close(_) => {
                let p = principal?;
                if wrong_tenant {
                    return Some(Rejection::WrongTenant);
                }
                if self.status != Executed {
                    return Some(Rejection::InvalidTransition);
                }
                if !Self::may_operate(p) {
                    return Some(Rejection::MissingRole);
                }
                self.status = Closed;
                None
            }
            Operation::AdvanceTime(_) => None,
        }
    }
}

/// Returns true for a status change the workflow defines; any other change in a history is a bug.
fn is_legal_edge(from: EscrowStatus, to: EscrowStatus) -> bool {
    use EscrowStatus::*;
    matches!(
        (from, to),
        (Pending, Approved)
            | (Pending, Expired)
            | (Pending, Cancelled)
            | (Approved, Executing)
            | (Approved, Failed)
            | (Approved, Expired)
            | (Approved, Cancelled)
            | (Executing, Executed)
            | (Executing, Failed)
            | (Executed, Closed)
            | (Executed, RolledBack)
            | (Failed, RolledBack)
    )
}

fn run(escrow: &Escrow, operation: &Operation, principals: &[Principal], now_ms: i64) -> Option<Result<Escrow, EscrowError>> {
    let principal = |index: &usize| &principals[*index];
    let result = match operation {
        Operation::Approve(p) => escrow::approve(escrow, principal(p), now_ms),
        Operation::Cancel(p) => escrow::cancel(escrow, principal(p), now_ms, "withdrawn"),
        Operation::Expire => escrow::expire(escrow, now_ms),
        Operation::BeginExecute(p, reverification) => {
            escrow::begin_execute(escrow, principal(p), reverification.clone(), now_ms)
        }
        Operation::RecordExecution(succeeded) => {
            let outcome = if *succeeded {
                ExecutionOutcome::Succeeded
            } else {
                ExecutionOutcome::Failed { reason: "upstream returned status 500".to_owned() }
            };
            escrow::record_execution(escrow, &outcome, now_ms)
        }
        Operation::Rollback(p) => escrow::rollback(escrow, principal(p), now_ms, "compensated"),
        Operation::Close(p) => escrow::close(escrow, principal(p), now_ms),
        Operation::AdvanceTime(_) => return None,
    };
    Some(result)
}

fn check_invariants(escrow: &Escrow, principals: &[Principal]) {
    // Approvals: distinct, same tenant, approver role, separation of duties.
    let mut seen: Vec<&str> = Vec::new();
    for approval in &escrow.approvals {
        assert!(!seen.contains(&approval.approver.as_str()), "duplicate approver {}", approval.approver);
        seen.push(&approval.approver);
        assert!(
            approval.roles.iter().any(|role| APPROVER_ROLES.contains(&role.as_str())),
            "approval by {} without an approver role",
            approval.approver
        );
        assert!(
            principals.iter().any(|p| p.id == approval.approver && p.tenant == TENANT && p.roles == approval.roles),
            "approval by {} does not match a principal of the tenant",
            approval.approver
        );
        if escrow.sod {
            assert_ne!(approval.approver, REQUESTER, "requester approved under separation of duties");
            assert_ne!(approval.approver, KEY_OWNER, "key owner approved under separation of duties");
        }
    }
    assert!(escrow.approvals.len() <= escrow.approvals_required as usize, "more approvals than the quorum");

    // History: a connected chain of legal edges from PENDING to the current status.
    let mut status = EscrowStatus::Pending;
    for transition in &escrow.history {
        assert_eq!(transition.from, status, "history is not a chain");
        assert!(is_legal_edge(transition.from, transition.to), "illegal transition {:?} -> {:?}", transition.from, transition.to);
        status = transition.to;
    }
    assert_eq!(status, escrow.status, "history does not end at the current status");

    // Execution: claimed at most once, and only with the quorum.
    let claims = escrow.history.iter().filter(|t| t.to == EscrowStatus::Executing).count();
    assert!(claims <= 1, "execution claimed {claims} times");
    if claims == 1 {
        assert!(escrow.quorum_reached(), "execution claimed without the quorum");
        assert!(escrow.execution_started_at_ms.is_some(), "claim without a start time");
    }
    let executed = escrow.history.iter().filter(|t| t.to == EscrowStatus::Executed).count();
    assert!(executed <= 1, "executed {executed} times");
}

fn scenario() -> impl Strategy<Value = (u32, bool, bool, i64, Vec<Operation>)> {
    (
        1u32..=3,
        any::<bool>(),
        any::<bool>(),
        1_000i64..120_000,
        prop::collection::vec(operation_strategy(), 1..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn escrow_matches_model((required, sod, has_plan, ttl_ms, operations) in scenario()) {
        let principals = principals();
        let plan = has_plan.then(|| RollbackPlan {
            plan_type: "compensate".to_owned(),
            steps: vec![serde_json::json!({"op": "void_payment"})],
        });
        let mut escrow = Escrow::open(NewEscrow {
            escrow_id: "esc-1".to_owned(),
            tenant: TENANT.to_owned(),
            decision_id: "dec-1".to_owned(),
            requesting_actor: REQUESTER.to_owned(),
            key_id: "kid-1".to_owned(),
            key_owner: KEY_OWNER.to_owned(),
            intent: intent(),
            rollback_plan: plan,
            policy_set_id: "finance".to_owned(),
            approvals_required: required,
            approver_roles: APPROVER_ROLES.iter().map(|role| (*role).to_owned()).collect(),
            sod,
            created_at_ms: CREATED_AT_MS,
            expires_at_ms: CREATED_AT_MS + ttl_ms,
        }).expect("valid escrow");
        let mut model = Model {
            status: EscrowStatus::Pending,
            approvers: Vec::new(),
            required: required as usize,
            sod,
            has_plan,
            execution_started: false,
            expires_at_ms: CREATED_AT_MS + ttl_ms,
        };
        let mut now_ms = CREATED_AT_MS;
        let mut accepted: u64 = 0;

        for operation in &operations {
            if let Operation::AdvanceTime(step_ms) = operation {
                now_ms += step_ms;
                continue;
            }
            let principal = match operation {
                Operation::Approve(p) | Operation::Cancel(p) | Operation::BeginExecute(p, _)
                | Operation::Rollback(p) | Operation::Close(p) => Some(&principals[*p]),
                _ => None,
            };
            let expected = model.apply(operation, principal, now_ms);
            let actual = run(&escrow, operation, &principals, now_ms).expect("not a time step");

            match (expected, actual) {
                (None, Ok(next)) => {
                    prop_assert_eq!(next.version, escrow.version + 1, "version must grow by one");
                    prop_assert_eq!(next.status, model.status, "status after {:?}", operation);
                    accepted += 1;
                    escrow = next;
                }
                (Some(rejection), Err(error)) => {
                    prop_assert_eq!(rejection_of(&error), rejection, "{:?} gave `{}`", operation, error);
                }
                (expected, actual) => {
                    prop_assert!(false, "{:?} at {} ms: model {:?}, escrow {:?}", operation, now_ms, expected, actual.map(|e| e.status));
                }
            }
            check_invariants(&escrow, &principals);
        }

        prop_assert_eq!(escrow.version, accepted, "one version per accepted operation");
    }
}

#[test]
fn requester_and_key_owner_may_approve_without_sod() {
    // Separation of duties is a policy switch: with it off, the rule must not fire.
    let principals = principals();
    let escrow = Escrow::open(NewEscrow {
        escrow_id: "esc-2".to_owned(),
        tenant: TENANT.to_owned(),
        decision_id: "dec-2".to_owned(),
        requesting_actor: REQUESTER.to_owned(),
        key_id: "kid-1".to_owned(),
        key_owner: KEY_OWNER.to_owned(),
        intent: intent(),
        rollback_plan: None,
        policy_set_id: "finance".to_owned(),
        approvals_required: 2,
        approver_roles: APPROVER_ROLES.iter().map(|role| (*role).to_owned()).collect(),
        sod: false,
        created_at_ms: CREATED_AT_MS,
        expires_at_ms: CREATED_AT_MS + 60_000,
    })
    .expect("valid escrow");

    let requester = principals.iter().find(|p| p.id == REQUESTER).expect("requester");
    let owner = principals.iter().find(|p| p.id == KEY_OWNER).expect("key owner");
    let once = escrow::approve(&escrow, requester, CREATED_AT_MS + 1).expect("requester approves");
    let twice = escrow::approve(&once, owner, CREATED_AT_MS + 2).expect("key owner approves");
    assert_eq!(twice.status, EscrowStatus::Approved);
}
