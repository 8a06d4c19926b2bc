//! Concurrent approvals and executions of one escrow through a compare-and-set cell.
//!
//! Goal: when many threads race to approve and execute the same escrow, the quorum is made
//! of distinct approvers and exactly one execution claim wins. Method: a `Mutex<Escrow>` with
//! a version check replaces the store's compare-and-set. Each thread reads a snapshot,
//! releases the lock, computes the next escrow with the real escrow functions, and writes it
//! back only if the stored version is still the one it read, exactly as the control plane
//! does against the store. Threads start together behind a barrier, and each round repeats
//! the race on a fresh escrow.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axiom_engine::escrow::{
    self, Escrow, EscrowError, EscrowStatus, NewEscrow, Principal, Reverification,
};
use axiom_engine::model::{Intent, RollbackPlan};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

const TENANT: &str = "acme";
const NOW_MS: i64 = 1_700_000_000_000;
const ROUNDS: usize = 50;
const THREADS: usize = 12;

/// Test double of the store: one escrow, replaced only when the expected version matches.
struct CasCell {
    escrow: Mutex<Escrow>,
}

#[derive(Debug)]
enum CasOutcome {
    Stored,
    VersionConflict,
}

impl CasCell {
    fn read(&self) -> Escrow {
        self.escrow.lock().expect("cell lock").clone()
    }

    fn compare_and_set(&self, expected_version: u64, next: Escrow) -> CasOutcome {
        let mut stored = self.escrow.lock().expect("cell lock");
        if stored.version != expected_version {
            return CasOutcome::VersionConflict;
        }
        assert_eq!(next.version, expected_version + 1, "operations bump the version by one");
        *stored = next;
        CasOutcome::Stored
    }
}

fn intent() -> Intent {
    serde_json::from_value(serde_json::json!({
        "intent_id": "i-1",
        "idempotency_key": "k-1",
        "actor": {"id": "agent-7", "tenant": TENANT, "roles": []},
        "target": {"domain": "finance", "object_types": ["invoice"], "object_ids": ["inv-1"], "scope": "single"},
        "operation": {"name": "pay_invoice", "params": {"amount": "25000.00"}},
        "data_requirements": {"required_sources": [], "max_staleness_sec": 30},
        "time": {"request_time": NOW_MS}
    }))
    .expect("test intent is valid")
}

fn open_escrow(approvals_required: u32) -> Escrow {
    Escrow::open(NewEscrow {
        escrow_id: "esc-race".to_owned(),
        tenant: TENANT.to_owned(),
        decision_id: "dec-race".to_owned(),
        requesting_actor: "agent-7".to_owned(),
        key_id: "kid-1".to_owned(),
        key_owner: "key-owner-1".to_owned(),
        intent: intent(),
        rollback_plan: Some(RollbackPlan {
            plan_type: "compensate".to_owned(),
            steps: vec![serde_json::json!({"op": "void_payment"})],
        }),
        policy_set_id: "finance".to_owned(),
        approvals_required,
        approver_roles: vec!["complianceofficer".to_owned()],
        sod: true,
        created_at_ms: NOW_MS,
        expires_at_ms: NOW_MS + 3_600_000,
    })
    .expect("valid escrow")
}

fn approver(index: usize) -> Principal {
    Principal {
        // Two threads share each id, so duplicates race against each other too.
        id: format!("approver-{}", index / 2),
        roles: vec!["complianceofficer".to_owned()],
        tenant: TENANT.to_owned(),
    }
}

/// Retries an operation on version conflicts; returns the escrow as stored by this thread,
/// or the operation's rejection.
fn apply_with_retry(
    cell: &CasCell,
    operation: impl Fn(&Escrow) -> Result<Escrow, EscrowError>,
) -> Result<Escrow, EscrowError> {
    loop {
        let snapshot = cell.read();
        let next = operation(&snapshot)?;
        match cell.compare_and_set(snapshot.version, next.clone()) {
            CasOutcome::Stored => return Ok(next),
            CasOutcome::VersionConflict => continue,
        }
    }
}

#[test]
fn racing_approvals_and_executions_execute_once() {
    for round in 0..ROUNDS {
        let cell = Arc::new(CasCell {
            escrow: Mutex::new(open_escrow(3)),
        });
        let barrier = Arc::new(Barrier::new(THREADS));

        // Every thread approves (six distinct ids, each used twice), then all try to execute.
        let handles: Vec<_> = (0..THREADS)
            .map(|index| {
                let cell = Arc::clone(&cell);
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let principal = approver(index);
                    barrier.wait();
                    let approval = apply_with_retry(&cell, |escrow| {
                        escrow::approve(escrow, &principal, NOW_MS + 1)
                    });
                    // All approvals are in before anyone executes, so every thread races
                    // for the claim on an APPROVED escrow.
                    barrier.wait();
                    let execution = apply_with_retry(&cell, |escrow| {
                        escrow::begin_execute(escrow, &principal, Reverification::Passed, NOW_MS + 2)
                    });
                    (approval.is_ok(), execution.map(|escrow| escrow.status))
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|handle| handle.join().expect("thread finished"))
            .collect();

        let stored = cell.read();
        let approvals_won = results.iter().filter(|(approved, _)| *approved).count();
        let executions_won: Vec<_> = results
            .iter()
            .filter_map(|(_, execution)| execution.as_ref().ok())
            .collect();

        assert_eq!(approvals_won, 3, "round {round}: exactly the quorum of approvals is stored");
        assert_eq!(stored.approvals.len(), 3, "round {round}");
        let mut approvers: Vec<_> = stored.approvals.iter().map(|a| a.approver.clone()).collect();
        approvers.sort();
        approvers.dedup();
        assert_eq!(approvers.len(), 3, "round {round}: approvers are distinct");

        assert_eq!(executions_won.len(), 1, "round {round}: exactly one execution claim wins");
        assert_eq!(*executions_won[0], EscrowStatus::Executing, "round {round}");
        assert_eq!(stored.status, EscrowStatus::Executing, "round {round}");
        let claims = stored
            .history
            .iter()
            .filter(|t| t.to == EscrowStatus::Executing)
            .count();
        assert_eq!(claims, 1, "round {round}: one claim in the history");
        // Three approvals and one claim: four accepted operations in all.
        assert_eq!(stored.version, 4, "round {round}");
    }
}

#[test]
fn execution_race_loser_rejected() {
    // After the winner's claim is stored, a second executor reading the new state must be
    // rejected by the state machine itself, not only by the version check.
    let cell = CasCell {
        escrow: Mutex::new(open_escrow(1)),
    };
    let approver = approver(0);
    let all_passed = Reverification::Passed;
    apply_with_retry(&cell, |escrow| escrow::approve(escrow, &approver, NOW_MS + 1))
        .expect("approval");

    let stale = cell.read();
    let winner = escrow::begin_execute(&stale, &approver, all_passed.clone(), NOW_MS + 2).expect("claim");
    let loser = escrow::begin_execute(&stale, &approver, all_passed.clone(), NOW_MS + 2).expect("claim");
    assert!(matches!(cell.compare_and_set(stale.version, winner), CasOutcome::Stored));
    assert!(matches!(
        cell.compare_and_set(stale.version, loser),
        CasOutcome::VersionConflict
    ));

    let error = escrow::begin_execute(&cell.read(), &approver, all_passed, NOW_MS + 3)
        .expect_err("second execution");
    assert!(
        matches!(error, EscrowError::InvalidTransition { status: EscrowStatus::Executing, .. }),
        "{error}"
    );
}
