//! A panic inside one shard restarts that shard under its supervisor. The shard recovers its replay
//! protection before serving again, and the other shards keep serving throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shard_support;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_engine::shard::{AdmitOutcome, CompleteOutcome};
use shard_support::*;
use std::time::Duration;

#[actix_rt::test]
async fn panic_restarts_shard_with_protection_intact() {
    let harness = start(test_config());
    let shards = &harness.shards;
    let now = harness.base_ms;
    let (crashing, healthy) = tenants_on_distinct_shards(shards);
    let crash_index = shards.shard_for(&crashing);
    let healthy_index = shards.shard_for(&healthy);

    // State before the crash: an allowed nonce, a sequence mark, a decided idempotency key.
    let before = with_sequence(request(&crashing, "a", "before-crash", now), "stream", 5);
    let admission = admitted(shards.admit(before.clone()).await);
    assert_eq!(
        shards.complete(admission, completion(Verdict::Allow, now)).await,
        CompleteOutcome::Recorded
    );
    let run_before = shards.stats(crash_index).await.unwrap().run;

    // An admission left open across the crash.
    let open = admitted(shards.admit(request(&crashing, "a", "open-across-crash", now)).await);

    // The healthy shard keeps serving while the other one crashes.
    let healthy_shards = shards.clone();
    let healthy_tenant = healthy.clone();
    let during = actix_rt::spawn(async move {
        let mut admitted_count = 0;
        for i in 0..200 {
            let outcome = healthy_shards
                .admit(request(&healthy_tenant, "h", &format!("during-{i}"), now))
                .await;
            if matches!(outcome, AdmitOutcome::Admitted(_)) {
                admitted_count += 1;
            }
        }
        admitted_count
    });
    assert!(shards.inject_panic(crash_index).await, "shard answered the fault message");
    assert_eq!(during.await.unwrap(), 200, "the healthy shard admitted every request");

    // The crashed shard comes back with a new run number.
    let mut restarted = None;
    for _ in 0..100 {
        let stats = shards.stats(crash_index).await.expect("shard address still valid");
        if stats.run > run_before && stats.ready {
            restarted = Some(stats);
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let restarted = restarted.expect("shard restarted and became ready");
    assert_eq!(restarted.nonces_live, 2, "both consumed nonces were recovered");

    // Replay protection survived: the nonce, the sequence mark and the idempotency entry.
    let mut replay = before.clone();
    replay.idempotency_key = "different-key".to_owned();
    assert_eq!(rejected(shards.admit(replay).await).reason, ReasonCode::ReplayDetected);
    let open_replay = request(&crashing, "a", "open-across-crash", now);
    assert_eq!(rejected(shards.admit(open_replay).await).reason, ReasonCode::ReplayDetected);
    let lower = with_sequence(request(&crashing, "a", "fresh-1", now), "stream", 5);
    assert_eq!(rejected(shards.admit(lower).await).reason, ReasonCode::SequenceReplay);
    let mut same_key = request(&crashing, "a", "fresh-2", now);
    same_key.idempotency_key = before.idempotency_key.clone();
    assert!(matches!(shards.admit(same_key).await, AdmitOutcome::Cached(_)));

    // A ticket from before the restart is unknown; its nonce stays consumed (fail closed).
    assert_eq!(
        shards.complete(open, completion(Verdict::Allow, now)).await,
        CompleteOutcome::UnknownAdmission
    );

    // The restarted shard serves new work, and the healthy shard never restarted.
    let fresh = with_sequence(request(&crashing, "a", "fresh-3", now), "stream", 6);
    assert!(matches!(shards.admit(fresh).await, AdmitOutcome::Admitted(_)));
    let healthy_stats = shards.stats(healthy_index).await.unwrap();
    assert_eq!(healthy_stats.run, 1);
}

#[actix_rt::test]
async fn failed_recovery_rejects_until_it_succeeds() {
    let mut config = test_config();
    config.recovery_retry_ms = 20;
    let harness = start(config);
    let shards = &harness.shards;
    let now = harness.base_ms;
    let (tenant, _) = tenants_on_distinct_shards(shards);
    let index = shards.shard_for(&tenant);
    let admission = admitted(shards.admit(request(&tenant, "a", "kept", now)).await);
    shards.complete(admission, completion(Verdict::Allow, now)).await;

    harness.recovery.set_unavailable(Some("audit log unreadable".to_owned()));
    assert!(shards.inject_panic(index).await);

    // While recovery fails, every request is rejected with the reason, never admitted.
    let rejection = rejected(shards.admit(request(&tenant, "a", "new-while-down", now)).await);
    assert_eq!(rejection.reason, ReasonCode::InternalError);
    actix_rt::time::sleep(Duration::from_millis(60)).await;
    let rejection = rejected(shards.admit(request(&tenant, "a", "new-while-down", now)).await);
    assert_eq!(rejection.reason, ReasonCode::InternalError);
    assert!(rejection.detail.contains("audit log unreadable"), "{}", rejection.detail);
    assert!(!shards.stats(index).await.unwrap().ready);

    // Once the source returns state again, the retry restores the state and the shard serves.
    harness.recovery.set_unavailable(None);
    let mut ready = false;
    for _ in 0..100 {
        if shards.stats(index).await.unwrap().ready {
            ready = true;
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "shard recovered after the source came back");
    let mut replay = request(&tenant, "a", "kept", now);
    replay.idempotency_key = "x".to_owned();
    assert_eq!(rejected(shards.admit(replay).await).reason, ReasonCode::ReplayDetected);
    assert!(matches!(
        shards.admit(request(&tenant, "a", "new-after", now)).await,
        AdmitOutcome::Admitted(_)
    ));
}

#[test]
fn shard_set_callable_from_another_tokio_runtime() {
    // The QUIC server runs its own multi-thread tokio runtime and awaits shard futures there.
    let (sender, receiver) = std::sync::mpsc::channel();
    let system_thread = std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async {
            let harness = start(test_config());
            sender.send((harness.shards.clone(), harness.base_ms)).unwrap();
            // Keep the System alive while the other runtime uses the shards.
            actix_rt::time::sleep(Duration::from_secs(2)).await;
        });
    });
    let (shards, now) = receiver.recv().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let outcomes = runtime.block_on(async move {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let shards = shards.clone();
                tokio::spawn(async move { shards.admit(request("rt", "a", &format!("rt-{}", i % 8), now)).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    });
    let admitted_count = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, AdmitOutcome::Admitted(_)))
        .count();
    assert_eq!(admitted_count, 8, "each of the 8 nonces admitted once");
    system_thread.join().unwrap();
}
