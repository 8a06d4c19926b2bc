//! The parsed, not yet type-checked form of a policy set.

use super::diagnostic::Span;
use rust_decimal::Decimal;

/// A parsed expression and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// The expression form.
    pub kind: ExprKind,
    /// Position of its first token in the policy text.
    pub span: Span,
    /// Levels of nesting below and including this node; a leaf has height 1.
    pub height: usize,
}

impl Expr {
    /// Builds a node, computing its height from its children's stored heights.
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        let below = match &kind {
            ExprKind::List(items) => items.iter().map(|item| item.height).max().unwrap_or(0),
            ExprKind::Eps(inner) | ExprKind::Not(inner) | ExprKind::Neg(inner) => inner.height,
            ExprKind::And(left, right)
            | ExprKind::Or(left, right)
            | ExprKind::Compare(_, left, right)
            | ExprKind::In(left, right)
            | ExprKind::Contains(left, right)
            | ExprKind::Add(left, right)
            | ExprKind::Sub(left, right)
            | ExprKind::Mul(left, right) => left.height.max(right.height),
            _ => 0,
        };
        Expr { kind, span, height: below + 1 }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    /// Returns the operator as written in policy text.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// The expression forms of the grammar.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(Decimal),
    Str(String),
    Bool(bool),
    /// `[a, b, c]`.
    List(Vec<Expr>),
    /// A dotted path such as `action.params.amount`, one segment per element.
    Field(Vec<String>),
    /// `source("name").attribute`.
    Source { name: String, attribute: String },
    /// `budget.remaining("CODE")`.
    Budget { code: String },
    /// `eps(x)`.
    Eps(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `a in b`.
    In(Box<Expr>, Box<Expr>),
    /// `a contains b`.
    Contains(Box<Expr>, Box<Expr>),
    Add(Box<Expr>, Box<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
}

/// A value in a header item or a shield parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Number(Decimal),
    Str(String),
    Bool(bool),
    Ident(String),
}

/// `shield(TYPE, key=value, ...)` as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ShieldDecl {
    /// The shield type as written, quoted or bare.
    pub shield_type: String,
    /// Position of the type in the policy text.
    pub type_span: Span,
    /// Parameters in the order written, with the position of each key.
    pub params: Vec<(String, Literal, Span)>,
}

/// One `axiom NAME:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct AxiomDecl {
    pub name: String,
    pub name_span: Span,
    /// The `when` condition; None means the axiom always applies.
    pub when: Option<Expr>,
    pub require: Expr,
    pub else_shield: Option<ShieldDecl>,
}

/// One header item after `policyset NAME vN:`.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderItem {
    Domain(String),
    RateLimit {
        count: Decimal,
        per: String,
        scope: String,
    },
    ApprovalsRequired(Decimal),
    ApprovalsRoles(Vec<String>),
    ApprovalsSod(bool),
    /// A duration such as `4h`: the number and its unit.
    ApprovalsExpiresIn(Decimal, String),
    Escrow(Expr),
    Invariant(Expr),
    AbacAllow(Expr),
    AbacDeny(Expr),
}

/// A whole parsed policy set.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDoc {
    pub name: String,
    pub version: u32,
    /// Header items with the position of their first keyword.
    pub header: Vec<(HeaderItem, Span)>,
    pub axioms: Vec<AxiomDecl>,
}
