//! Goal: erasing a subject makes its personal data unreadable while the chain still verifies
//! and other subjects stay readable. Method: interleave two subjects' records, erase one,
//! reopen, read both and run `verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axiom_storage::{verify, AuditWriter, PersonalView, SubjectId};

#[test]
fn erased_subject_unreadable_chain_intact() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = common::open(dir.path());
        let writer = AuditWriter::start(&store, common::engine_key()).unwrap();
        for index in 0..6 {
            let actor = if index % 2 == 0 { "alice" } else { "bob" };
            let entry = common::entry(0, &format!("d-{index}"), "acme", actor, 1_000 + index);
            writer.append_blocking(entry).unwrap();
        }
        // The same actor id in another tenant is another subject and must survive.
        writer
            .append_blocking(common::entry(1, "g-0", "globex", "alice", 1_000))
            .unwrap();

        let erased = writer
            .erase_subject_blocking(SubjectId::new("acme", "alice"))
            .unwrap();
        assert_eq!(erased, 1);
        writer.shutdown().unwrap();
    }

    let store = common::open(dir.path());
    for index in [0, 2, 4] {
        let record = store.audit_record(&format!("d-{index}")).unwrap().unwrap();
        assert_eq!(record.personal, PersonalView::Erased, "d-{index}");
        assert_eq!(record.decision.tenant, "acme");
        assert_eq!(record.decision.nonce, format!("nonce-d-{index}"));
    }
    for index in [1, 3, 5] {
        let record = store.audit_record(&format!("d-{index}")).unwrap().unwrap();
        let PersonalView::Readable { actor_id, params } = record.personal else {
            panic!("d-{index} should be readable");
        };
        assert_eq!(actor_id, "bob");
        assert_eq!(params["payee"], "payee of bob");
    }
    let other_tenant = store.audit_record("g-0").unwrap().unwrap();
    assert!(matches!(
        other_tenant.personal,
        PersonalView::Readable { .. }
    ));

    let subject_records = store
        .audit_by_subject(&SubjectId::new("acme", "alice"), 10)
        .unwrap();
    assert_eq!(subject_records.len(), 3);
    drop(store);

    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact(), "problems: {:?}", report.problems);
}

#[test]
fn erased_subject_gets_new_key_for_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::open(dir.path());
    let writer = AuditWriter::start(&store, common::engine_key()).unwrap();
    writer
        .append_blocking(common::entry(0, "before", "acme", "carol", 1))
        .unwrap();
    writer
        .erase_subject_blocking(SubjectId::new("acme", "carol"))
        .unwrap();
    writer
        .append_blocking(common::entry(0, "after", "acme", "carol", 2))
        .unwrap();

    let before = store.audit_record("before").unwrap().unwrap();
    let after = store.audit_record("after").unwrap().unwrap();

    assert_eq!(before.personal, PersonalView::Erased);
    assert!(matches!(after.personal, PersonalView::Readable { .. }));
}
