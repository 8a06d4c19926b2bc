//! Confirms the z3 crate links against the system libz3 and answers a small query.

#[test]
fn z3_solver_proves_small_query() {
    let x = z3::ast::Int::new_const("x");
    let solver = z3::Solver::new();
    solver.assert(x.gt(10));
    solver.assert(x.lt(5));
    assert_eq!(solver.check(), z3::SatResult::Unsat);
}
