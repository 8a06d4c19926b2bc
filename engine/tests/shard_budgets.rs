//! Budgets on real shard actors: remaining amounts at admission, atomic reservations at
//! completion, and no overspend under concurrent payments in random interleavings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod shard_support;

use axiom_engine::model::{ReasonCode, Verdict};
use axiom_engine::shard::{
    AdmitOutcome, BudgetDefinition, BudgetError, BudgetReservation, BudgetScope, CompleteOutcome,
    Completion, ReserveOutcome,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use shard_support::*;
use std::str::FromStr;

fn budget(code: &str, scope: BudgetScope, limit: &str, period_ms: u64) -> BudgetDefinition {
    BudgetDefinition {
        code: code.to_owned(),
        scope,
        limit: Decimal::from_str(limit).unwrap(),
        period_ms,
    }
}

fn pay(code: &str, scope: BudgetScope, amount: &str, now_ms: i64) -> Completion {
    Completion {
        response: response(Verdict::Allow, ReasonCode::Ok),
        reservations: vec![BudgetReservation {
            code: code.to_owned(),
            scope,
            amount: Decimal::from_str(amount).unwrap(),
            expected_remaining: None,
        }],
        now_ms,
    }
}

#[actix_rt::test]
async fn remaining_reported_and_last_amount_spent_once() {
    let harness = start(test_config());
    let shards = &harness.shards;
    let now = harness.base_ms;
    shards
        .set_budget("t", budget("AP", BudgetScope::Tenant, "100.00", 3_600_000))
        .await
        .unwrap();

    let mut first = request("t", "a", "b-1", now);
    first.budget_codes = vec!["AP".to_owned(), "NONE".to_owned()];
    let first = admitted(shards.admit(first).await);
    assert_eq!(first.budgets[0].remaining, Some(Decimal::from(100)));
    assert_eq!(first.budgets[1].remaining, None, "undefined budget reads as absent");

    // Two payments admitted before either completes both see 100 remaining.
    let second = admitted(shards.admit(request("t", "b", "b-2", now)).await);
    assert_eq!(
        shards.complete(first, pay("AP", BudgetScope::Tenant, "70.00", now)).await,
        CompleteOutcome::Recorded
    );
    let exhausted = shards
        .complete(second.clone(), pay("AP", BudgetScope::Tenant, "70.00", now))
        .await;
    assert_eq!(
        exhausted,
        CompleteOutcome::BudgetExhausted {
            code: "AP".to_owned(),
            remaining: Decimal::from_str("30.00").unwrap()
        }
    );

    // The admission stays open: the caller changes the verdict and completes again.
    let shielded = Completion {
        response: response(Verdict::Shield, ReasonCode::AxiomFail),
        reservations: Vec::new(),
        now_ms: now,
    };
    assert_eq!(shards.complete(second, shielded).await, CompleteOutcome::Recorded);

    let mut third = request("t", "c", "b-3", now);
    third.budget_codes = vec!["AP".to_owned()];
    let third = admitted(shards.admit(third).await);
    assert_eq!(third.budgets[0].remaining, Some(Decimal::from(30)));
}

#[actix_rt::test]
async fn actor_budget_separate_per_actor_and_period() {
    let harness = start(test_config());
    let shards = &harness.shards;
    let period_ms = 60_000;
    let now = (harness.base_ms / period_ms + 1) * period_ms;
    shards
        .set_budget("t", budget("DAILY", BudgetScope::Actor, "10", period_ms as u64))
        .await
        .unwrap();

    let a = admitted(shards.admit(request("t", "a", "p-1", now)).await);
    assert_eq!(
        shards.complete(a, pay("DAILY", BudgetScope::Actor, "10", now)).await,
        CompleteOutcome::Recorded
    );
    let b = admitted(shards.admit(request("t", "b", "p-2", now)).await);
    assert_eq!(
        shards.complete(b, pay("DAILY", BudgetScope::Actor, "10", now)).await,
        CompleteOutcome::Recorded,
        "actor b has its own budget"
    );

    let mut next_period = request("t", "a", "p-3", now + period_ms);
    next_period.budget_codes = vec!["DAILY".to_owned()];
    let next = admitted(shards.admit(next_period).await);
    assert_eq!(next.budgets[0].remaining, Some(Decimal::from(10)));

    let wrong_scope = shards
        .complete(next, pay("DAILY", BudgetScope::Tenant, "1", now + period_ms))
        .await;
    assert!(matches!(wrong_scope, CompleteOutcome::InvalidReservation { .. }), "{wrong_scope:?}");
}

#[actix_rt::test]
async fn invalid_budget_definitions_rejected() {
    let harness = start(test_config());
    let negative = harness
        .shards
        .set_budget("t", budget("AP", BudgetScope::Tenant, "-1", 1_000))
        .await;
    assert!(matches!(negative, Err(BudgetError::NegativeLimit { .. })));
    let zero_period = harness
        .shards
        .set_budget("t", budget("AP", BudgetScope::Tenant, "1", 0))
        .await;
    assert!(matches!(zero_period, Err(BudgetError::ZeroPeriod { .. })));
    assert_eq!(harness.shards.remove_budget("t", "AP").await, Ok(false));
}

fn reservation(code: &str, amount: &str) -> BudgetReservation {
    BudgetReservation {
        code: code.to_owned(),
        scope: BudgetScope::Tenant,
        amount: Decimal::from_str(amount).unwrap(),
        expected_remaining: None,
    }
}

async fn remaining(shards: &axiom_engine::shard::ShardSet, now_ms: i64) -> Option<Decimal> {
    let read = shards.budgets("t", "a", vec!["AP".to_owned()], now_ms).await.unwrap();
    read[0].remaining
}

#[actix_rt::test]
async fn direct_reservations_never_overspend() {
    // Goal: reservations made outside an admission (escrow executions) share the limit with
    // the decision path, and concurrent ones never spend more than it. Method: three
    // concurrent reservations that fit only once, then an admission reads what is left.
    let harness = start(test_config());
    let shards = &harness.shards;
    let now = harness.base_ms;
    shards
        .set_budget("t", budget("AP", BudgetScope::Tenant, "1570.77", 3_600_000))
        .await
        .unwrap();
    assert_eq!(remaining(shards, now).await, Some(Decimal::from_str("1570.77").unwrap()));

    let attempts: Vec<_> = (0..3)
        .map(|_| {
            let shards = shards.clone();
            actix_rt::spawn(async move { shards.reserve("t", "a", vec![reservation("AP", "942.46")], now).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    let reserved = outcomes.iter().filter(|outcome| **outcome == ReserveOutcome::Reserved).count();
    assert_eq!(reserved, 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|outcome| **outcome != ReserveOutcome::Reserved) {
        assert_eq!(
            *outcome,
            ReserveOutcome::BudgetExhausted { code: "AP".to_owned(), remaining: Decimal::from_str("628.31").unwrap() }
        );
    }
    assert_eq!(remaining(shards, now).await, Some(Decimal::from_str("628.31").unwrap()));

    let mut admit = request("t", "b", "after-reserve", now);
    admit.budget_codes = vec!["AP".to_owned()];
    let admission = admitted(shards.admit(admit).await);
    assert_eq!(admission.budgets[0].remaining, Some(Decimal::from_str("628.31").unwrap()));

    let undefined = shards.reserve("t", "a", vec![reservation("NONE", "1")], now).await;
    assert!(matches!(undefined, ReserveOutcome::InvalidReservation { .. }), "{undefined:?}");
    let unknown_tenant = shards.reserve("nobody", "a", vec![reservation("AP", "1")], now).await;
    assert!(matches!(unknown_tenant, ReserveOutcome::InvalidReservation { .. }), "{unknown_tenant:?}");
    let negative = shards.reserve("t", "a", vec![reservation("AP", "-5")], now).await;
    assert!(matches!(negative, ReserveOutcome::InvalidReservation { .. }), "{negative:?}");
    assert_eq!(remaining(shards, now).await, Some(Decimal::from_str("628.31").unwrap()));
}

#[actix_rt::test]
async fn direct_reservation_released_once_and_kept_across_restart() {
    // Goal: a release gives back at most what was reserved, and a reservation is journaled
    // so a restarted shard still counts it. Method: reserve twice, release one, crash the
    // shard with an injected panic, and read the remaining amount after its recovery.
    let harness = start(test_config());
    let shards = &harness.shards;
    let now = harness.base_ms;
    shards
        .set_budget("t", budget("AP", BudgetScope::Tenant, "1000", 3_600_000))
        .await
        .unwrap();
    assert_eq!(shards.reserve("t", "a", vec![reservation("AP", "300")], now).await, ReserveOutcome::Reserved);
    assert_eq!(shards.reserve("t", "a", vec![reservation("AP", "200")], now).await, ReserveOutcome::Reserved);

    let released = shards.release("t", "a", vec![reservation("AP", "200")], now, now).await.unwrap();
    assert_eq!(released, Decimal::from(200));
    assert_eq!(remaining(shards, now).await, Some(Decimal::from(700)));
    let overreleased = shards.release("t", "a", vec![reservation("AP", "5000")], now, now).await.unwrap();
    assert_eq!(overreleased, Decimal::from(300), "a release never gives back more than is spent");
    assert_eq!(remaining(shards, now).await, Some(Decimal::from(1000)));
    assert_eq!(shards.reserve("t", "a", vec![reservation("AP", "450")], now).await, ReserveOutcome::Reserved);

    let index = shards.shard_for("t");
    let run_before = shards.stats(index).await.unwrap().run;
    assert!(shards.inject_panic(index).await);
    let mut ready = false;
    for _ in 0..200 {
        let stats = shards.stats(index).await.unwrap();
        if stats.run > run_before && stats.ready {
            ready = true;
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(ready, "shard {index} did not restart");
    assert_eq!(remaining(shards, now).await, Some(Decimal::from(550)));
}

/// One payment in a generated scenario: which actor, how much (in cents), and which of the
/// sender threads sends it.
#[derive(Debug, Clone)]
struct Payment {
    actor: u8,
    cents: u32,
    sender: usize,
}

fn payments() -> impl Strategy<Value = (u32, Vec<Payment>)> {
    let payment = (0u8..4, 1u32..5_000, 0usize..4).prop_map(|(actor, cents, sender)| Payment {
        actor,
        cents,
        sender,
    });
    (1_000u32..20_000, prop::collection::vec(payment, 2..40))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Concurrent payments from several threads, admitted and completed in random interleavings,
    /// never spend more than the limit, and every refusal reports what truly remained.
    #[test]
    fn budget_never_overspent((limit_cents, payments) in payments()) {
        let limit = Decimal::new(i64::from(limit_cents), 2);
        let total: Decimal = payments.iter().map(|payment| Decimal::new(i64::from(payment.cents), 2)).sum();
        let system = actix_rt::System::new();
        let (spent, remaining_after) = system.block_on(async move {
            let harness = start(test_config());
            harness.shards
                .set_budget("t", budget("AP", BudgetScope::Tenant, &limit.to_string(), 3_600_000))
                .await
                .unwrap();
            let now = harness.base_ms;

            let threads: Vec<_> = (0..4)
                .map(|sender| {
                    let shards = harness.shards.clone();
                    let mine: Vec<(usize, Payment)> = payments
                        .iter()
                        .cloned()
                        .enumerate()
                        .filter(|(_, payment)| payment.sender == sender)
                        .collect();
                    std::thread::spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                        runtime.block_on(async move {
                            // Admit all first, then complete, so reservations of different
                            // threads interleave with admissions that read stale remainders.
                            let mut open = Vec::new();
                            for (index, payment) in &mine {
                                let nonce = format!("pay-{index}");
                                let outcome = shards.admit(request("t", &format!("actor-{}", payment.actor), &nonce, now)).await;
                                match outcome {
                                    AdmitOutcome::Admitted(admission) => open.push((admission, payment.cents)),
                                    other => panic!("payment {index} not admitted: {other:?}"),
                                }
                            }
                            let mut spent = Decimal::ZERO;
                            for (admission, cents) in open {
                                let amount = Decimal::new(i64::from(cents), 2);
                                let outcome = shards
                                    .complete(admission.clone(), pay("AP", BudgetScope::Tenant, &amount.to_string(), now))
                                    .await;
                                match outcome {
                                    CompleteOutcome::Recorded => spent += amount,
                                    CompleteOutcome::BudgetExhausted { remaining, .. } => {
                                        assert!(remaining < amount, "refused {amount} with {remaining} remaining");
                                        let deny = Completion {
                                            response: response(Verdict::Deny, ReasonCode::AxiomFail),
                                            reservations: Vec::new(),
                                            now_ms: now,
                                        };
                                        assert_eq!(shards.complete(admission, deny).await, CompleteOutcome::Recorded);
                                    }
                                    other => panic!("unexpected completion {other:?}"),
                                }
                            }
                            spent
                        })
                    })
                })
                .collect();
            let spent: Decimal = threads.into_iter().map(|thread| thread.join().unwrap()).sum();

            let mut probe = request("t", "probe", "probe", now);
            probe.budget_codes = vec!["AP".to_owned()];
            let remaining = admitted(harness.shards.admit(probe).await).budgets[0].remaining;
            harness.shards.stop();
            (spent, remaining)
        });

        prop_assert!(spent <= limit, "spent {} of limit {}", spent, limit);
        prop_assert_eq!(remaining_after, Some(limit - spent));
        if total <= limit {
            prop_assert_eq!(spent, total, "everything fits, so everything is spent");
        }
    }
}
