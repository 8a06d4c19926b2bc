//! The role matrix printed in docs/OPERATIONS.md is the one the server enforces.

use axiom::http::roles::ROLE_MATRIX;
use std::collections::BTreeMap;

#[test]
fn operations_role_matrix_matches_code() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/OPERATIONS.md"))
        .expect("docs/OPERATIONS.md");
    let table_start = text.find("| permission | roles |").expect("role matrix table");
    let documented: BTreeMap<String, Vec<String>> = text[table_start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let roles = cells.get(1).map(|roles| roles.split(", ").map(str::to_owned).collect()).unwrap_or_default();
            (cells.first().copied().unwrap_or_default().to_owned(), roles)
        })
        .collect();

    let enforced: BTreeMap<String, Vec<String>> = ROLE_MATRIX
        .iter()
        .map(|(permission, roles)| {
            (format!("{permission:?}"), roles.iter().map(|role| role.as_str().to_owned()).collect())
        })
        .collect();
    assert_eq!(documented, enforced);
}
