//! Shard admission scenarios against real actors on real arbiters: replays raced from several
//! threads, sequences, idempotency, rate limits, anomalies, nonce expiry and caps.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shard_support;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_engine::shard::{AdmitOutcome, CompleteOutcome, ShardConfig};
use shard_support::*;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};

#[actix_rt::test]
async fn replay_race_admits_exactly_one() {
    let harness = start(test_config());
    let tenants: Vec<String> = (0..8).map(|i| format!("race-tenant-{i}")).collect();
    let senders = 4;
    let rounds = 40;
    let base_ms = harness.base_ms;

    // Every round, `senders` threads send the same nonce at the same moment, each from its own
    // tokio runtime, the way QUIC connection tasks would.
    let barrier = Arc::new(Barrier::new(senders));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let shards = harness.shards.clone();
            let barrier = barrier.clone();
            let tenants = tenants.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let mut outcomes = Vec::new();
                for round in 0..rounds {
                    barrier.wait();
                    let sends = tenants.iter().map(|tenant| {
                        let nonce = format!("nonce-{round}");
                        shards.admit(request(tenant, "agent", &nonce, base_ms + round as i64))
                    });
                    let results = runtime.block_on(await_in_order(sends.collect()));
                    outcomes.extend(results.into_iter().map(|outcome| (round, outcome)));
                }
                outcomes
            })
        })
        .collect();
    let outcomes: Vec<_> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();

    for round in 0..rounds {
        let this_round: Vec<_> = outcomes.iter().filter(|(r, _)| *r == round).collect();
        let admitted = this_round
            .iter()
            .filter(|(_, outcome)| matches!(outcome, AdmitOutcome::Admitted(_)))
            .count();
        assert_eq!(admitted, tenants.len(), "round {round}: one admission per tenant");
        for (_, outcome) in &this_round {
            if let AdmitOutcome::Rejected(rejection) = outcome {
                assert_eq!(rejection.reason, ReasonCode::ReplayDetected, "round {round}");
            }
        }
        assert_eq!(this_round.len(), tenants.len() * senders);
    }
}

/// Awaits the futures one after another; the race comes from the threads, not from here.
async fn await_in_order<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut handles = Vec::with_capacity(futures.len());
    for future in futures {
        handles.push(future);
    }
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await);
    }
    outputs
}

#[actix_rt::test]
async fn replay_rejected_after_allow_but_not_other_tenant() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let admission = admitted(harness.shards.admit(request("t1", "a", "n-1", now)).await);
    let done = harness
        .shards
        .complete(admission, completion(Verdict::Allow, now))
        .await;
    assert_eq!(done, CompleteOutcome::Recorded);

    let again = rejected(harness.shards.admit(request("t1", "a", "n-1", now + 5)).await);
    assert_eq!(again.reason, ReasonCode::ReplayDetected);

    let other_tenant = harness.shards.admit(request("t2", "a", "n-1", now + 5)).await;
    assert!(matches!(other_tenant, AdmitOutcome::Admitted(_)));
}

#[actix_rt::test]
async fn sequence_increasing_gaps_and_defer_restore() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let shards = &harness.shards;
    let seq = |nonce: &str, value: u64| with_sequence(request("t", "a", nonce, now), "stream-1", value);

    let first = admitted(shards.admit(seq("s-1", 3)).await);
    assert_eq!(shards.complete(first, completion(Verdict::Allow, now)).await, CompleteOutcome::Recorded);

    let equal = rejected(shards.admit(seq("s-2", 3)).await);
    assert_eq!(equal.reason, ReasonCode::SequenceReplay);
    let lower = rejected(shards.admit(seq("s-3", 2)).await);
    assert_eq!(lower.reason, ReasonCode::SequenceReplay);

    // A gap is allowed; a DEFER gives back both the nonce and the mark.
    let deferred = admitted(shards.admit(seq("s-4", 10)).await);
    assert_eq!(shards.complete(deferred, completion(Verdict::Defer, now)).await, CompleteOutcome::Recorded);
    let retried = admitted(shards.admit(seq("s-4", 10)).await);

    // While that retry is open, a lower sequence is still rejected: the mark is 10.
    let while_open = rejected(shards.admit(seq("s-5", 9)).await);
    assert_eq!(while_open.reason, ReasonCode::SequenceReplay);
    assert_eq!(shards.complete(retried, completion(Verdict::Deny, now)).await, CompleteOutcome::Recorded);

    // Another stream is independent.
    let other_stream = with_sequence(request("t", "a", "s-6", now), "stream-2", 1);
    assert!(matches!(shards.admit(other_stream).await, AdmitOutcome::Admitted(_)));
}

#[actix_rt::test]
async fn defer_keeps_a_later_sequence_mark() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let shards = &harness.shards;
    let seq = |nonce: &str, value: u64| with_sequence(request("t", "a", nonce, now), "s", value);

    let five = admitted(shards.admit(seq("n5", 5)).await);
    let seven = admitted(shards.admit(seq("n7", 7)).await);
    assert_eq!(shards.complete(seven, completion(Verdict::Allow, now)).await, CompleteOutcome::Recorded);
    assert_eq!(shards.complete(five, completion(Verdict::Defer, now)).await, CompleteOutcome::Recorded);

    let six = rejected(shards.admit(seq("n6", 6)).await);
    assert_eq!(six.reason, ReasonCode::SequenceReplay);
}

#[actix_rt::test]
async fn idempotency_cached_conflict_and_in_flight() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let shards = &harness.shards;
    let keyed = |nonce: &str, hash: u8| {
        let mut request = request("t", "a", nonce, now);
        request.idempotency_key = "pay-42".to_owned();
        request.intent_hash = [hash; 32];
        request
    };

    let first = admitted(shards.admit(keyed("i-1", 1)).await);
    let in_flight = rejected(shards.admit(keyed("i-2", 1)).await);
    assert_eq!(in_flight.reason, ReasonCode::IdempotencyConflict);
    assert!(in_flight.retry_after_ms.is_some());

    let decided = response(Verdict::Escrow, ReasonCode::EscrowRequired);
    let done = shards
        .complete(
            first,
            axiom_engine::shard::Completion {
                response: decided.clone(),
                reservations: Vec::new(),
                now_ms: now,
            },
        )
        .await;
    assert_eq!(done, CompleteOutcome::Recorded);

    match shards.admit(keyed("i-3", 1)).await {
        AdmitOutcome::Cached(stored) => assert_eq!(*stored, decided),
        other => panic!("expected the stored decision, got {other:?}"),
    }
    let conflict = rejected(shards.admit(keyed("i-4", 2)).await);
    assert_eq!(conflict.reason, ReasonCode::IdempotencyConflict);

    // Another actor may use the same key.
    let mut other_actor = keyed("i-5", 2);
    other_actor.actor_id = "b".to_owned();
    assert!(matches!(shards.admit(other_actor).await, AdmitOutcome::Admitted(_)));
}

#[actix_rt::test]
async fn defer_is_not_cached_for_idempotency() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let shards = &harness.shards;
    let first = admitted(shards.admit(request("t", "a", "d-1", now)).await);
    shards.complete(first, completion(Verdict::Defer, now)).await;

    // Same certificate retried after DEFER: admitted again, not a cached DEFER.
    assert!(matches!(
        shards.admit(request("t", "a", "d-1", now + 10)).await,
        AdmitOutcome::Admitted(_)
    ));
}

#[actix_rt::test]
async fn rate_limit_retry_after_and_runtime_change() {
    let harness = start(test_config());
    harness.settings.rate_limit_per_minute.store(6, Ordering::Relaxed);
    let now = harness.base_ms;
    let shards = &harness.shards;

    for i in 0..6 {
        let outcome = shards.admit(request("t", "a", &format!("r-{i}"), now)).await;
        assert!(matches!(outcome, AdmitOutcome::Admitted(_)), "request {i}: {outcome:?}");
    }
    let limited = rejected(shards.admit(request("t", "a", "r-6", now)).await);
    assert_eq!(limited.reason, ReasonCode::RateLimited);
    // Six per minute: one request every 10 s.
    assert_eq!(limited.retry_after_ms, Some(10_000));

    // The rejected request consumed nothing: its nonce is still usable later.
    let later = shards.admit(request("t", "a", "r-6", now + 10_000)).await;
    assert!(matches!(later, AdmitOutcome::Admitted(_)), "{later:?}");

    // A higher limit applies from the next request.
    harness.settings.rate_limit_per_minute.store(600, Ordering::Relaxed);
    let raised = shards.admit(request("t", "a", "r-7", now + 10_000)).await;
    assert!(matches!(raised, AdmitOutcome::Admitted(_)), "{raised:?}");

    // A limit of 0 admits nothing.
    harness.settings.rate_limit_per_minute.store(0, Ordering::Relaxed);
    let zero = rejected(shards.admit(request("t", "a", "r-8", now + 10_000)).await);
    assert_eq!(zero.reason, ReasonCode::RateLimited);
    assert_eq!(zero.retry_after_ms, None);
}

#[actix_rt::test]
async fn tenant_rate_limit_spans_actors() {
    let harness = start(test_config());
    // Actor limit 2 per minute, tenant limit 20 per minute.
    harness.settings.rate_limit_per_minute.store(2, Ordering::Relaxed);
    let now = harness.base_ms;
    let mut admitted_count = 0;
    let mut tenant_limited = None;
    for actor in 0..15 {
        for i in 0..2 {
            let nonce = format!("tr-{actor}-{i}");
            match harness.shards.admit(request("t", &format!("actor-{actor}"), &nonce, now)).await {
                AdmitOutcome::Admitted(_) => admitted_count += 1,
                AdmitOutcome::Rejected(rejection) => tenant_limited = Some(rejection),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(admitted_count, 20);
    let rejection = tenant_limited.expect("tenant limit reached");
    assert_eq!(rejection.reason, ReasonCode::RateLimited);
    assert!(rejection.detail.contains("tenant"), "{}", rejection.detail);
}

#[actix_rt::test]
async fn repeated_rate_limit_opens_one_anomaly_per_minute() {
    let mut config = test_config();
    config.anomaly_rate_limited_per_minute_min = 3;
    let harness = start(config);
    harness.settings.rate_limit_per_minute.store(1, Ordering::Relaxed);
    // Start at a minute boundary so the whole burst falls in one minute.
    let minute = (harness.base_ms / 60_000 + 1) * 60_000;

    assert!(matches!(
        harness.shards.admit(request("t", "a", "x-0", minute)).await,
        AdmitOutcome::Admitted(_)
    ));
    let mut anomalies = Vec::new();
    for i in 1..10 {
        let rejection = rejected(harness.shards.admit(request("t", "a", &format!("x-{i}"), minute + i)).await);
        assert_eq!(rejection.reason, ReasonCode::RateLimited);
        anomalies.extend(rejection.anomaly);
    }
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    assert_eq!(anomalies[0].actor_id, "a");
    assert_eq!(anomalies[0].rejections, 3);
    assert_eq!(anomalies[0].window_start_ms, minute);

    // The next minute may open a new one (the limiter refills one request per minute).
    let next = minute + 60_000;
    let _ = harness.shards.admit(request("t", "a", "y-0", next)).await;
    let mut next_anomalies = 0;
    for i in 1..5 {
        let outcome = harness.shards.admit(request("t", "a", &format!("y-{i}"), next + i)).await;
        next_anomalies += rejected(outcome).anomaly.iter().count();
    }
    assert_eq!(next_anomalies, 1);
}

#[actix_rt::test]
async fn nonce_evicted_after_expiry_plus_skew() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let skew = harness.settings.clock_skew_ms.load(Ordering::Relaxed) as i64;
    let shards = &harness.shards;
    let mut first = request("t", "a", "e-1", now);
    first.cert_expires_at_ms = now + 1_000;
    let admission = admitted(shards.admit(first.clone()).await);
    shards.complete(admission, completion(Verdict::Allow, now)).await;
    let index = shards.shard_for("t");
    assert_eq!(shards.stats(index).await.unwrap().nonces_live, 1);

    // Still remembered at expires_at + skew.
    let mut replay = first.clone();
    replay.now_ms = now + 1_000 + skew;
    replay.idempotency_key = "other".to_owned();
    assert_eq!(rejected(shards.admit(replay.clone()).await).reason, ReasonCode::ReplayDetected);

    // Past that, the entry is evicted by time. The caller would reject this certificate as
    // expired first; here a later request from another actor sweeps it out.
    let mut later = request("t", "b", "e-2", now + 1_001 + skew);
    later.cert_expires_at_ms = now + 1_001 + skew + 1_000;
    admitted(shards.admit(later).await);
    let stats = shards.stats(index).await.unwrap();
    assert_eq!(stats.nonces_live, 1, "the expired nonce was evicted, the new one is live");
}

#[actix_rt::test]
async fn nonce_cap_overloads_without_forgetting() {
    let config = ShardConfig {
        nonces_per_tenant_max: 3,
        ..test_config()
    };
    let harness = start(config);
    let now = harness.base_ms;
    let shards = &harness.shards;
    for i in 0..3 {
        let admission = admitted(shards.admit(request("t", "a", &format!("c-{i}"), now)).await);
        shards.complete(admission, completion(Verdict::Allow, now)).await;
    }

    let over = rejected(shards.admit(request("t", "a", "c-3", now)).await);
    assert_eq!(over.reason, ReasonCode::Overloaded);
    assert!(over.detail.contains("nonces_per_tenant_max"), "{}", over.detail);

    // Every live nonce is still rejected as a replay at the cap.
    for i in 0..3 {
        let mut replay = request("t", "a", &format!("c-{i}"), now);
        replay.idempotency_key = format!("again-{i}");
        assert_eq!(rejected(shards.admit(replay).await).reason, ReasonCode::ReplayDetected);
    }

    // Another tenant is not affected by this tenant's cap.
    assert!(matches!(
        shards.admit(request("u", "a", "c-0", now)).await,
        AdmitOutcome::Admitted(_)
    ));

    // Once the nonces expire, the tenant is admitted again.
    let after = now + CERT_LIFETIME_MS + 10_000;
    assert!(matches!(
        shards.admit(request("t", "a", "c-4", after)).await,
        AdmitOutcome::Admitted(_)
    ));
}

#[actix_rt::test]
async fn shard_queue_cap_answers_overloaded() {
    let config = ShardConfig {
        shard_queue_max: 1,
        shard_count: 1,
        arbiter_count: 1,
        ..ShardConfig::default()
    };
    let harness = start(config);
    let now = harness.base_ms;
    let sends: Vec<_> = (0..64)
        .map(|i| {
            let shards = harness.shards.clone();
            actix_rt::spawn(async move { shards.admit(request("t", "a", &format!("q-{i}"), now)).await })
        })
        .collect();
    let mut overloaded = 0;
    let mut admitted_count = 0;
    for send in sends {
        match send.await.unwrap() {
            AdmitOutcome::Admitted(_) => admitted_count += 1,
            AdmitOutcome::Rejected(rejection) if rejection.reason == ReasonCode::Overloaded => overloaded += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(admitted_count + overloaded, 64);
    assert!(admitted_count >= 1);
    assert!(overloaded >= 1, "64 concurrent sends into a queue of 1 must overflow");
}

#[actix_rt::test]
async fn expired_certificate_not_admitted() {
    let harness = start(test_config());
    let now = harness.base_ms;
    let mut stale = request("t", "a", "old", now);
    stale.cert_expires_at_ms = now - 60_000;
    assert_eq!(rejected(harness.shards.admit(stale).await).reason, ReasonCode::CertExpired);
}
