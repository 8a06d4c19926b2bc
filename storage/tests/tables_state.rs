//! Goal: the typed tables, settings history and compliance log keep their contracts across
//! reopen: compare-and-set applies only on the expected value, `insert_new` never overwrites,
//! tenants are listed apart, and logs keep their order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_storage::{CasOutcome, StorageError};
use serde_json::json;

#[test]
fn escrow_transition_by_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let pending = json!({"status": "PENDING", "version": 1});
    let approved = json!({"status": "APPROVED", "version": 2});
    let cancelled = json!({"status": "CANCELLED", "version": 2});
    store.escrows().insert_new("acme", "e-1", &pending).unwrap();

    let first = store
        .escrows()
        .compare_and_set("acme", "e-1", &pending, &approved)
        .unwrap();
    let second = store
        .escrows()
        .compare_and_set("acme", "e-1", &pending, &cancelled)
        .unwrap();

    assert_eq!(first, CasOutcome::Applied);
    assert_eq!(
        second,
        CasOutcome::Conflict {
            current: Some(approved.clone())
        }
    );
    drop(store);
    let store = common::open(dir.path());
    assert_eq!(
        store
            .escrows()
            .get::<serde_json::Value>("acme", "e-1")
            .unwrap(),
        Some(approved)
    );
}

#[test]
fn insert_new_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store
        .keys()
        .insert_new("acme", "kid-1", &json!({"status": "active"}))
        .unwrap();

    let error = store
        .keys()
        .insert_new("acme", "kid-1", &json!({"status": "revoked"}))
        .unwrap_err();

    assert!(
        matches!(error, StorageError::AlreadyExists { .. }),
        "{error}"
    );
    let stored: serde_json::Value = store.keys().get("acme", "kid-1").unwrap().unwrap();
    assert_eq!(stored["status"], "active");
}

#[test]
fn tenants_listed_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    store.incidents().put("acme", "i-1", &json!(1)).unwrap();
    store.incidents().put("acme", "i-2", &json!(2)).unwrap();
    // "acm" is a prefix of "acme" as text; the length prefix must keep them apart.
    store.incidents().put("acm", "i-3", &json!(3)).unwrap();

    let acme: Vec<(String, serde_json::Value)> = store.incidents().list("acme", 10).unwrap();
    let all: Vec<(String, String, serde_json::Value)> = store.incidents().list_all(10).unwrap();

    assert_eq!(
        acme,
        vec![("i-1".into(), json!(1)), ("i-2".into(), json!(2))]
    );
    assert_eq!(all.len(), 3);
    assert!(store.incidents().remove("acm", "i-3").unwrap());
    assert_eq!(
        store
            .incidents()
            .get::<serde_json::Value>("acm", "i-3")
            .unwrap(),
        None
    );
}

#[test]
fn oversized_key_rejected_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());

    let error = store
        .budgets()
        .put("acme", &"x".repeat(70_000), &json!(0))
        .unwrap_err();

    assert!(
        matches!(error, StorageError::InvalidInput { field: "id", .. }),
        "{error}"
    );
}

#[test]
fn settings_and_compliance_logs_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = common::open(dir.path());
        store
            .settings()
            .put(
                1,
                &json!({"rate": 10}),
                &json!({"by": "sre-1", "field": "rate"}),
            )
            .unwrap();
        store
            .settings()
            .put(
                2,
                &json!({"rate": 20}),
                &json!({"by": "sre-2", "field": "rate"}),
            )
            .unwrap();
        store
            .compliance_events()
            .append(5, &json!({"kind": "gdpr_erasure"}))
            .unwrap();
    }

    let store = common::open(dir.path());
    let current: serde_json::Value = store.settings().get().unwrap().unwrap();
    let history = store
        .settings()
        .history::<serde_json::Value>(0, 10)
        .unwrap();
    let next_event = store
        .compliance_events()
        .append(6, &json!({"kind": "export"}))
        .unwrap();
    let events = store
        .compliance_events()
        .list::<serde_json::Value>(0, 10)
        .unwrap();

    assert_eq!(current, json!({"rate": 20}));
    assert_eq!(
        history.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(history[1].value["by"], "sre-2");
    assert_eq!(next_event, 2);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].value["kind"], "gdpr_erasure");
}
