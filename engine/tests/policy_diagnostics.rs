//! Diagnostics: each malformed policy is rejected with the exact line, column and message,
//! and publish checks name vacuous and contradictory axioms at their condition.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axiom_engine::policy::{check_publishable, compile, Diagnostic};

const HEADER: &str = "policyset finance v1:\n  domain finance\n";

fn errors(source: &str) -> Vec<Diagnostic> {
    match compile(source) {
        Ok(_) => panic!("policy compiled but should not:\n{source}"),
        Err(diagnostics) => diagnostics,
    }
}

fn first(source: &str) -> (u32, u32, String) {
    let diagnostic = errors(source).into_iter().next().unwrap();
    (diagnostic.line, diagnostic.column, diagnostic.message)
}

#[test]
fn unknown_field_position() {
    let source = format!("{HEADER}axiom A:\n  when action.nmae == \"x\"\n  require true\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 8));
    assert!(message.starts_with("unknown field `action.nmae`"), "{message}");
}

#[test]
fn string_compared_with_number() {
    let source = format!("{HEADER}axiom A:\n  require action.name < 5\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 11));
    assert!(message.contains("`<` compares numbers"), "{message}");
}

#[test]
fn eps_on_string() {
    let source = format!("{HEADER}axiom A:\n  require batch.size + eps(\"wide\") <= 3\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 28));
    assert_eq!(message, "`eps` needs a number, found a string");
}

#[test]
fn eps_on_field_rejected() {
    let source = format!("{HEADER}axiom A:\n  require batch.size + eps(batch.size) <= 3\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 28));
    assert!(message.contains("non-negative number literal"), "{message}");
}

#[test]
fn unknown_shield_type() {
    let source = format!("{HEADER}axiom A:\n  require true\n  else shield(\"SHUT_DOWN\")\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (5, 15));
    assert!(message.starts_with("unknown shield type `SHUT_DOWN`"), "{message}");
}

#[test]
fn small_batch_without_max() {
    let source = format!("{HEADER}axiom A:\n  require true\n  else shield(SMALL_BATCH)\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (5, 15));
    assert!(message.contains("integer `max`"), "{message}");
}

#[test]
fn small_batch_with_fractional_max() {
    let source = format!("{HEADER}axiom A:\n  require true\n  else shield(SMALL_BATCH, max=2.5)\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (5, 28));
    assert!(message.contains("positive whole number"), "{message}");
}

#[test]
fn duplicate_axiom_names() {
    let source = format!("{HEADER}axiom A:\n  require true\naxiom A:\n  require true\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (5, 7));
    assert_eq!(message, "duplicate axiom name `A`");
}

#[test]
fn several_errors_sorted() {
    let source = format!("{HEADER}axiom A:\n  require actor.age > 3\naxiom B:\n  require action.name + 1 > 2\n");
    let diagnostics = errors(&source);
    let positions: Vec<(u32, u32)> = diagnostics.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(positions, vec![(4, 11), (6, 11)], "{diagnostics:?}");
}

#[test]
fn syntax_error_position() {
    let source = format!("{HEADER}axiom A:\n  require (batch.size > 3\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (5, 1));
    assert_eq!(message, "expected `)`, found end of input");
}

#[test]
fn unexpected_character() {
    let source = format!("{HEADER}axiom A:\n  require batch.size ! 3\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 22));
    assert_eq!(message, "unexpected character `!`");
}

#[test]
fn nesting_bounded_without_overflow() {
    let depth = 10_000;
    let source = format!("{HEADER}axiom A:\n  require {}true{}\n", "(".repeat(depth), ")".repeat(depth));
    let (line, _, message) = first(&source);
    assert_eq!(line, 4);
    assert!(message.contains("nested more than"), "{message}");

    let chain = vec!["batch.size > 1"; 5_000].join(" and ");
    let source = format!("{HEADER}axiom A:\n  require {chain}\n");
    let (_, _, message) = first(&source);
    assert!(message.contains("nested more than"), "{message}");

    let negations = "not ".repeat(10_000);
    let source = format!("{HEADER}axiom A:\n  require {negations}true\n");
    let (_, _, message) = first(&source);
    assert!(message.contains("nested more than"), "{message}");
}

#[test]
fn oversized_input_rejected() {
    let source = format!("{HEADER}{}", "# filler\n".repeat(40_000));
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (1, 1));
    assert!(message.contains("above the limit"), "{message}");
}

#[test]
fn multiplication_needs_constant() {
    let source = format!("{HEADER}axiom A:\n  require batch.size * batch.size < 10\n");
    let (line, column, message) = first(&source);
    assert_eq!((line, column), (4, 11));
    assert!(message.contains("constant on one side"), "{message}");
}

#[test]
fn publish_flags_vacuous_and_contradictory() {
    let source = format!(
        "{HEADER}axiom Never:\n  when action.name == \"pay\" and action.name == \"refund\"\n  require true\naxiom Impossible:\n  when action.name == \"pay\"\n  require action.params.amount > 10 and action.params.amount < 5\naxiom Fine:\n  when action.name == \"pay\"\n  require action.params.amount + eps(1) <= budget.remaining(\"AP\")\naxiom Roles:\n  require \"A\" in actor.roles and not (\"A\" in actor.roles)\n"
    );
    let policy = compile(&source).unwrap();
    let diagnostics = check_publishable(&policy);
    let found: Vec<(u32, u32, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (4, 8, "axiom `Never` is vacuous: its `when` can never be true"),
            (8, 11, "axiom `Impossible` is contradictory: its `require` can never hold where it applies"),
            (13, 11, "axiom `Roles` is contradictory: its `require` can never hold where it applies"),
        ]
    );
}

#[test]
fn publish_accepts_corpus_policies() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for name in ["finance.policy", "batch.policy", "tools.policy", "feeds.policy"] {
        let source = std::fs::read_to_string(directory.join(name)).unwrap();
        let policy = compile(&source).unwrap();
        assert_eq!(check_publishable(&policy), Vec::new(), "{name}");
    }
}

#[test]
fn compiled_header_values() {
    let source = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/finance.policy")).unwrap();
    let policy = compile(&source).unwrap();
    assert_eq!(policy.policy_set_id(), "finance@v18");
    assert_eq!(policy.domain, "finance");
    let rate = policy.rate_limit.unwrap();
    assert_eq!((rate.count, rate.period_ms), (240, 60_000));
    assert_eq!(policy.approvals.required, 2);
    assert_eq!(policy.approvals.roles, vec!["complianceofficer", "financemanager"]);
    assert!(policy.approvals.sod);
    assert_eq!(policy.approvals.expires_in_ms, 4 * 3_600_000);
    assert_eq!(policy.escrow_conditions.len(), 1);
    assert_eq!(policy.invariants.len(), 1);
    assert_eq!(policy.axioms.len(), 3);
    assert_eq!(policy.source_names.iter().collect::<Vec<_>>(), vec!["bank"]);
    assert_eq!(policy.budget_codes.iter().collect::<Vec<_>>(), vec!["AP"]);
    let shield = policy.axioms[1].else_shield.as_ref().unwrap();
    assert_eq!(shield.shield_type.as_str(), "REQUIRE_APPROVAL");
}
