//! Type checking and compilation from [`PolicyDoc`] to [`CompiledPolicy`].

use super::ast::{AxiomDecl, CompareOp, Expr, ExprKind, HeaderItem, Literal, PolicyDoc, ShieldDecl};
use super::compiled::{
    AbacEffect, AbacRule, ApprovalRules, Axiom, CompiledPolicy, RateLimitRule, RateScope,
};
use super::diagnostic::{Diagnostic, Span};
use super::parser::parse;
use super::typed::{
    BoolExpr, Condition, ListExpr, ListField, NumExpr, SourceAttribute, StrExpr, StrField,
};
use crate::model::{Shield, ShieldType};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// Most axioms in one policy set. Each axiom costs up to three solver queries per request, so
/// the bound caps the proof work a single policy can demand.
pub const AXIOMS_MAX: usize = 256;

/// Most approvals a policy may require; more than this is a typing mistake, not a quorum.
pub const APPROVALS_REQUIRED_MAX: u32 = 100;

/// Longest escrow approval window, in milliseconds (90 days).
pub const APPROVALS_EXPIRES_IN_MS_MAX: u64 = 90 * 24 * 60 * 60 * 1000;

/// Parses, type-checks and compiles policy text.
///
/// Returns every diagnostic found, sorted by position; a syntax error stops at the first one.
pub fn compile(source: &str) -> Result<CompiledPolicy, Vec<Diagnostic>> {
    let document = parse(source).map_err(|diagnostic| vec![diagnostic])?;
    let mut checker = Checker {
        diagnostics: Vec::new(),
    };
    let policy = checker.policy(document);
    if checker.diagnostics.is_empty() {
        return Ok(policy);
    }
    checker
        .diagnostics
        .sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    Err(checker.diagnostics)
}

/// The shape of an expression, read before checking it, to choose how to check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Number,
    Text,
    List,
    Bool,
    /// An `action.params` field, whose type comes from how it is used.
    Param,
    Unknown,
}

enum FieldRef {
    Num(NumExpr),
    Str(StrField),
    List(ListField),
    Param(String),
}

const KNOWN_FIELDS: &str = "action.name, action.scope, action.params.NAME, actor.id, actor.tenant, actor.roles, target.domain, target.object_types, target.object_ids, batch.size, principal.kid, principal.tenant";

fn resolve_field(path: &[String]) -> Option<FieldRef> {
    let parts: Vec<&str> = path.iter().map(String::as_str).collect();
    let field = match parts.as_slice() {
        ["action", "name"] => FieldRef::Str(StrField::ActionName),
        ["action", "scope"] => FieldRef::Str(StrField::ActionScope),
        ["action", "params", name] => FieldRef::Param((*name).to_owned()),
        ["actor", "id"] => FieldRef::Str(StrField::ActorId),
        ["actor", "tenant"] => FieldRef::Str(StrField::ActorTenant),
        ["actor", "roles"] => FieldRef::List(ListField::ActorRoles),
        ["target", "domain"] => FieldRef::Str(StrField::TargetDomain),
        ["target", "object_types"] => FieldRef::List(ListField::TargetObjectTypes),
        ["target", "object_ids"] => FieldRef::List(ListField::TargetObjectIds),
        ["batch", "size"] => FieldRef::Num(NumExpr::BatchSize),
        ["principal", "kid"] => FieldRef::Str(StrField::PrincipalKid),
        ["principal", "tenant"] => FieldRef::Str(StrField::PrincipalTenant),
        _ => return None,
    };
    Some(field)
}

fn shape(expr: &Expr) -> Shape {
    match &expr.kind {
        ExprKind::Number(_)
        | ExprKind::Source { .. }
        | ExprKind::Budget { .. }
        | ExprKind::Eps(_)
        | ExprKind::Add(..)
        | ExprKind::Sub(..)
        | ExprKind::Mul(..)
        | ExprKind::Neg(_) => Shape::Number,
        ExprKind::Str(_) => Shape::Text,
        ExprKind::List(_) => Shape::List,
        ExprKind::Bool(_)
        | ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..)
        | ExprKind::Compare(..)
        | ExprKind::In(..)
        | ExprKind::Contains(..) => Shape::Bool,
        ExprKind::Field(path) => match resolve_field(path) {
            Some(FieldRef::Num(_)) => Shape::Number,
            Some(FieldRef::Str(_)) => Shape::Text,
            Some(FieldRef::List(_)) => Shape::List,
            Some(FieldRef::Param(_)) => Shape::Param,
            None => Shape::Unknown,
        },
    }
}

fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Number => "a number",
        Shape::Text => "a string",
        Shape::List => "a list",
        Shape::Bool => "a condition",
        Shape::Param => "a parameter",
        Shape::Unknown => "an unknown field",
    }
}

struct Checker {
    diagnostics: Vec<Diagnostic>,
}

impl Checker {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::at(span, message));
    }

    fn policy(&mut self, document: PolicyDoc) -> CompiledPolicy {
        let mut policy = CompiledPolicy {
            domain: document.name.clone(),
            name: document.name,
            version: document.version,
            rate_limit: None,
            approvals: ApprovalRules::default(),
            escrow_conditions: Vec::new(),
            invariants: Vec::new(),
            abac: Vec::new(),
            axioms: Vec::new(),
            source_names: BTreeSet::new(),
            budget_codes: BTreeSet::new(),
        };

        for (item, span) in document.header {
            self.header_item(&mut policy, item, span);
        }

        if document.axioms.len() > AXIOMS_MAX {
            let span = document.axioms[AXIOMS_MAX].name_span;
            self.error(span, format!("policy set has more than {AXIOMS_MAX} axioms"));
        }
        let mut names = HashSet::new();
        for declaration in document.axioms {
            if !names.insert(declaration.name.clone()) {
                self.error(
                    declaration.name_span,
                    format!("duplicate axiom name `{}`", declaration.name),
                );
            }
            if let Some(axiom) = self.axiom(declaration) {
                policy.axioms.push(axiom);
            }
        }

        collect_references(&mut policy);
        policy
    }

    fn header_item(&mut self, policy: &mut CompiledPolicy, item: HeaderItem, span: Span) {
        match item {
            HeaderItem::Domain(domain) => policy.domain = domain,
            HeaderItem::RateLimit { count, per, scope } => {
                policy.rate_limit = self.rate_limit(count, &per, &scope, span);
            }
            HeaderItem::ApprovalsRequired(count) => {
                match count_value(count).filter(|value| (1..=APPROVALS_REQUIRED_MAX).contains(value)) {
                    Some(value) => policy.approvals.required = value,
                    None => self.error(span, format!("approvals required must be a whole number from 1 to {APPROVALS_REQUIRED_MAX}, found `{count}`")),
                }
            }
            HeaderItem::ApprovalsRoles(roles) => policy.approvals.roles = roles,
            HeaderItem::ApprovalsSod(sod) => policy.approvals.sod = sod,
            HeaderItem::ApprovalsExpiresIn(value, unit) => {
                match duration_ms(value, &unit).filter(|ms| *ms > 0 && *ms <= APPROVALS_EXPIRES_IN_MS_MAX) {
                    Some(ms) => policy.approvals.expires_in_ms = ms,
                    None => self.error(span, format!("invalid approval window `{value}{unit}`; write a whole number with s, m, h or d, at most 90 days")),
                }
            }
            HeaderItem::Escrow(expr) => {
                if let Some(condition) = self.condition(&expr) {
                    policy.escrow_conditions.push(condition);
                }
            }
            HeaderItem::Invariant(expr) => {
                if let Some(condition) = self.condition(&expr) {
                    policy.invariants.push(condition);
                }
            }
            HeaderItem::AbacAllow(expr) => {
                if let Some(condition) = self.condition(&expr) {
                    policy.abac.push(AbacRule { effect: AbacEffect::Allow, condition });
                }
            }
            HeaderItem::AbacDeny(expr) => {
                if let Some(condition) = self.condition(&expr) {
                    policy.abac.push(AbacRule { effect: AbacEffect::Deny, condition });
                }
            }
        }
    }

    fn rate_limit(&mut self, count: Decimal, per: &str, scope: &str, span: Span) -> Option<RateLimitRule> {
        let period_ms = match per {
            "second" => 1_000,
            "minute" => 60_000,
            "hour" => 3_600_000,
            _ => {
                self.error(span, format!("unknown rate period `{per}`; expected second, minute or hour"));
                return None;
            }
        };
        let scope = match scope {
            "actor" => RateScope::Actor,
            "tenant" => RateScope::Tenant,
            _ => {
                self.error(span, format!("unknown rate scope `{scope}`; expected actor or tenant"));
                return None;
            }
        };
        let Some(count) = count_value(count).filter(|value| *value > 0) else {
            self.error(span, format!("rate limit must be a positive whole number, found `{count}`"));
            return None;
        };
        Some(RateLimitRule { count, period_ms, scope })
    }

    fn axiom(&mut self, declaration: AxiomDecl) -> Option<Axiom> {
        let when = declaration.when.as_ref().map(|expr| self.condition(expr));
        let require = self.condition(&declaration.require);
        let else_shield = declaration.else_shield.as_ref().map(|shield| self.shield(shield));
        Some(Axiom {
            name: declaration.name,
            span: declaration.name_span,
            when: match when {
                Some(condition) => Some(condition?),
                None => None,
            },
            require: require?,
            else_shield: match else_shield {
                Some(shield) => Some(shield?),
                None => None,
            },
        })
    }

    fn shield(&mut self, declaration: &ShieldDecl) -> Option<Shield> {
        let Some(shield_type) = ShieldType::parse(&declaration.shield_type) else {
            self.error(
                declaration.type_span,
                format!("unknown shield type `{}`; expected READ_ONLY, DRY_RUN, SMALL_BATCH or REQUIRE_APPROVAL", declaration.shield_type),
            );
            return None;
        };

        let mut params = Map::new();
        for (key, value, key_span) in &declaration.params {
            let is_max = shield_type == ShieldType::SmallBatch && key == "max";
            if !is_max {
                self.error(*key_span, format!("shield {} takes no parameter `{key}`", shield_type.as_str()));
                return None;
            }
            let max = match value {
                Literal::Number(number) => count_value(*number).filter(|max| *max > 0),
                _ => None,
            };
            let Some(max) = max else {
                self.error(*key_span, "shield SMALL_BATCH needs `max` to be a positive whole number");
                return None;
            };
            params.insert(key.clone(), Value::from(max));
        }
        if shield_type == ShieldType::SmallBatch && !params.contains_key("max") {
            self.error(declaration.type_span, "shield SMALL_BATCH needs an integer `max` parameter, for example `shield(SMALL_BATCH, max=100)`");
            return None;
        }
        Some(Shield { shield_type, params })
    }

    fn condition(&mut self, expr: &Expr) -> Option<Condition> {
        let checked = self.boolean(expr)?;
        Some(Condition { expr: checked, span: expr.span })
    }

    fn boolean(&mut self, expr: &Expr) -> Option<BoolExpr> {
        match &expr.kind {
            ExprKind::Bool(value) => Some(BoolExpr::Const(*value)),
            ExprKind::Not(inner) => Some(BoolExpr::Not(Box::new(self.boolean(inner)?))),
            ExprKind::And(left, right) => {
                let (left, right) = (self.boolean(left), self.boolean(right));
                Some(BoolExpr::And(Box::new(left?), Box::new(right?)))
            }
            ExprKind::Or(left, right) => {
                let (left, right) = (self.boolean(left), self.boolean(right));
                Some(BoolExpr::Or(Box::new(left?), Box::new(right?)))
            }
            ExprKind::Compare(op, left, right) => self.compare(*op, left, right, expr.span),
            ExprKind::In(item, list) => self.membership(item, list, expr.span),
            ExprKind::Contains(container, item) => self.contains(container, item, expr.span),
            ExprKind::Field(path) if resolve_field(path).is_none() => {
                self.unknown_field(path, expr.span);
                None
            }
            _ => {
                self.error(expr.span, format!("expected a condition, found {}", shape_name(shape(expr))));
                None
            }
        }
    }

    fn unknown_field(&mut self, path: &[String], span: Span) {
        self.error(span, format!("unknown field `{}`; known fields are {KNOWN_FIELDS}", path.join(".")));
    }

    fn compare(&mut self, op: CompareOp, left: &Expr, right: &Expr, span: Span) -> Option<BoolExpr> {
        let shapes = (shape(left), shape(right));
        if shapes.0 == Shape::Text || shapes.1 == Shape::Text {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                self.error(span, format!("`{}` compares numbers, but a string is compared here", op.symbol()));
                return None;
            }
            let (left, right) = (self.string(left), self.string(right));
            return Some(BoolExpr::CompareStr { equal: op == CompareOp::Eq, left: left?, right: right? });
        }
        for (side, side_shape) in [(left, shapes.0), (right, shapes.1)] {
            if matches!(side_shape, Shape::List | Shape::Bool) {
                self.error(side.span, format!("`{}` cannot compare {}", op.symbol(), shape_name(side_shape)));
                return None;
            }
        }
        let (left, right) = (self.number(left), self.number(right));
        Some(BoolExpr::CompareNum(op, left?, right?))
    }

    fn membership(&mut self, item: &Expr, list: &Expr, span: Span) -> Option<BoolExpr> {
        match &list.kind {
            ExprKind::List(elements) => {
                let numeric = match elements.first() {
                    Some(first) => shape(first) == Shape::Number,
                    None => shape(item) == Shape::Number,
                };
                if numeric {
                    let item = self.number(item);
                    let values: Vec<Option<NumExpr>> = elements.iter().map(|element| self.number(element)).collect();
                    let values: Option<Vec<NumExpr>> = values.into_iter().collect();
                    return Some(BoolExpr::NumIn(item?, values?));
                }
                let item = self.string(item);
                let mut texts = Vec::new();
                for element in elements {
                    match &element.kind {
                        ExprKind::Str(text) => texts.push(text.clone()),
                        _ => self.error(element.span, format!("list elements must all be string literals, found {}", shape_name(shape(element)))),
                    }
                }
                if texts.len() != elements.len() {
                    return None;
                }
                Some(BoolExpr::StrIn(item?, ListExpr::Const(texts)))
            }
            ExprKind::Field(path) => match resolve_field(path) {
                Some(FieldRef::List(field)) => Some(BoolExpr::StrIn(self.string(item)?, ListExpr::Field(field))),
                None => {
                    self.unknown_field(path, list.span);
                    None
                }
                Some(_) => {
                    self.error(span, format!("`in` needs a list on its right, but `{}` is not a list", path.join(".")));
                    None
                }
            },
            _ => {
                self.error(list.span, format!("`in` needs a list on its right, found {}", shape_name(shape(list))));
                None
            }
        }
    }

    fn contains(&mut self, container: &Expr, item: &Expr, span: Span) -> Option<BoolExpr> {
        match shape(container) {
            Shape::List => {
                let list = self.list(container);
                let item = self.string(item);
                Some(BoolExpr::StrIn(item?, list?))
            }
            Shape::Text | Shape::Param => {
                let haystack = self.string(container);
                let needle = self.string(item);
                Some(BoolExpr::Substring { haystack: haystack?, needle: needle? })
            }
            Shape::Unknown => {
                self.number(container);
                None
            }
            other => {
                self.error(span, format!("`contains` needs a list or a string on its left, found {}", shape_name(other)));
                None
            }
        }
    }

    fn list(&mut self, expr: &Expr) -> Option<ListExpr> {
        match &expr.kind {
            ExprKind::List(elements) => {
                let mut texts = Vec::new();
                for element in elements {
                    match &element.kind {
                        ExprKind::Str(text) => texts.push(text.clone()),
                        _ => self.error(element.span, "list elements must all be string literals"),
                    }
                }
                (texts.len() == elements.len()).then_some(ListExpr::Const(texts))
            }
            ExprKind::Field(path) => match resolve_field(path) {
                Some(FieldRef::List(field)) => Some(ListExpr::Field(field)),
                _ => {
                    self.error(expr.span, format!("`{}` is not a list", path.join(".")));
                    None
                }
            },
            _ => {
                self.error(expr.span, format!("expected a list, found {}", shape_name(shape(expr))));
                None
            }
        }
    }

    fn string(&mut self, expr: &Expr) -> Option<StrExpr> {
        match &expr.kind {
            ExprKind::Str(text) => Some(StrExpr::Const(text.clone())),
            ExprKind::Field(path) => match resolve_field(path) {
                Some(FieldRef::Str(field)) => Some(StrExpr::Field(field)),
                Some(FieldRef::Param(name)) => Some(StrExpr::Param(name)),
                Some(_) => {
                    self.error(expr.span, format!("expected a string, but `{}` is {}", path.join("."), shape_name(shape(expr))));
                    None
                }
                None => {
                    self.unknown_field(path, expr.span);
                    None
                }
            },
            _ => {
                self.error(expr.span, format!("expected a string, found {}", shape_name(shape(expr))));
                None
            }
        }
    }

    fn number(&mut self, expr: &Expr) -> Option<NumExpr> {
        match &expr.kind {
            ExprKind::Number(value) => Some(NumExpr::Const(*value)),
            ExprKind::Field(path) => match resolve_field(path) {
                Some(FieldRef::Num(number)) => Some(number),
                Some(FieldRef::Param(name)) => Some(NumExpr::Param(name)),
                Some(_) => {
                    self.error(expr.span, format!("expected a number, but `{}` is {}", path.join("."), shape_name(shape(expr))));
                    None
                }
                None => {
                    self.unknown_field(path, expr.span);
                    None
                }
            },
            ExprKind::Source { name, attribute } => {
                let attribute = match attribute.as_str() {
                    "age_sec" => SourceAttribute::AgeSec,
                    "lag_sec" => SourceAttribute::LagSec,
                    "health_score" => SourceAttribute::HealthScore,
                    _ => {
                        self.error(expr.span, format!("unknown source attribute `{attribute}`; expected age_sec, lag_sec or health_score"));
                        return None;
                    }
                };
                Some(NumExpr::Source(name.clone(), attribute))
            }
            ExprKind::Budget { code } => Some(NumExpr::Budget(code.clone())),
            ExprKind::Eps(width) => self.eps(width, expr.span),
            ExprKind::Add(left, right) => {
                let (left, right) = (self.number(left), self.number(right));
                Some(NumExpr::Add(Box::new(left?), Box::new(right?)))
            }
            ExprKind::Sub(left, right) => {
                let (left, right) = (self.number(left), self.number(right));
                Some(NumExpr::Sub(Box::new(left?), Box::new(right?)))
            }
            ExprKind::Neg(inner) => match self.number(inner)? {
                NumExpr::Const(value) => Some(NumExpr::Const(-value)),
                other => Some(NumExpr::Scale(Decimal::NEGATIVE_ONE, Box::new(other))),
            },
            ExprKind::Mul(left, right) => {
                let (left, right) = (self.number(left)?, self.number(right)?);
                match (constant(&left), constant(&right)) {
                    (Some(Ok(factor)), Some(Ok(value))) => match factor.checked_mul(value) {
                        Some(product) => Some(NumExpr::Const(product)),
                        None => {
                            self.error(expr.span, "constant product overflows exact decimals");
                            None
                        }
                    },
                    (Some(Ok(factor)), _) => Some(NumExpr::Scale(factor, Box::new(right))),
                    (_, Some(Ok(factor))) => Some(NumExpr::Scale(factor, Box::new(left))),
                    (Some(Err(())), _) | (_, Some(Err(()))) => {
                        self.error(expr.span, "constant arithmetic overflows exact decimals");
                        None
                    }
                    _ => {
                        self.error(expr.span, "`*` needs a constant on one side; the policy language stays linear");
                        None
                    }
                }
            }
            _ => {
                self.error(expr.span, format!("expected a number, found {}", shape_name(shape(expr))));
                None
            }
        }
    }

    fn eps(&mut self, width: &Expr, site: Span) -> Option<NumExpr> {
        if !matches!(shape(width), Shape::Number) {
            self.error(width.span, format!("`eps` needs a number, found {}", shape_name(shape(width))));
            return None;
        }
        match self.number(width)? {
            NumExpr::Const(value) if value >= Decimal::ZERO => Some(NumExpr::Eps { width: value, site }),
            _ => {
                self.error(width.span, "`eps` needs a non-negative number literal, such as `eps(1.00)`");
                None
            }
        }
    }
}

/// Returns the value of an expression made only of constants: None when it reads an input,
/// `Some(Err(()))` when its exact value overflows.
fn constant(expr: &NumExpr) -> Option<Result<Decimal, ()>> {
    let value = match expr {
        NumExpr::Const(value) => Ok(*value),
        NumExpr::Add(left, right) => combine(constant(left)?, constant(right)?, Decimal::checked_add),
        NumExpr::Sub(left, right) => combine(constant(left)?, constant(right)?, Decimal::checked_sub),
        NumExpr::Scale(factor, inner) => constant(inner)?.and_then(|value| factor.checked_mul(value).ok_or(())),
        _ => return None,
    };
    Some(value)
}

fn combine(
    left: Result<Decimal, ()>,
    right: Result<Decimal, ()>,
    operation: fn(Decimal, Decimal) -> Option<Decimal>,
) -> Result<Decimal, ()> {
    operation(left?, right?).ok_or(())
}

fn count_value(value: Decimal) -> Option<u32> {
    if value.fract() != Decimal::ZERO {
        return None;
    }
    value.to_u32()
}

fn duration_ms(value: Decimal, unit: &str) -> Option<u64> {
    let unit_ms: u64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    if value.fract() != Decimal::ZERO {
        return None;
    }
    value.to_u64()?.checked_mul(unit_ms)
}

/// Fills in the source names and budget codes the policy reads.
fn collect_references(policy: &mut CompiledPolicy) {
    let mut sources = BTreeSet::new();
    let mut budgets = BTreeSet::new();
    let mut conditions: Vec<&Condition> = Vec::new();
    conditions.extend(policy.escrow_conditions.iter());
    conditions.extend(policy.invariants.iter());
    conditions.extend(policy.abac.iter().map(|rule| &rule.condition));
    for axiom in &policy.axioms {
        conditions.extend(axiom.when.iter());
        conditions.push(&axiom.require);
    }
    for condition in conditions {
        visit_bool(&condition.expr, &mut |number| match number {
            NumExpr::Source(name, _) => {
                sources.insert(name.clone());
            }
            NumExpr::Budget(code) => {
                budgets.insert(code.clone());
            }
            _ => {}
        });
    }
    policy.source_names = sources;
    policy.budget_codes = budgets;
}

/// Calls `visit` on every numeric leaf of a condition.
pub(crate) fn visit_bool(expr: &BoolExpr, visit: &mut dyn FnMut(&NumExpr)) {
    match expr {
        BoolExpr::Const(_) | BoolExpr::CompareStr { .. } | BoolExpr::StrIn(..) | BoolExpr::Substring { .. } => {}
        BoolExpr::Not(inner) => visit_bool(inner, visit),
        BoolExpr::And(left, right) | BoolExpr::Or(left, right) => {
            visit_bool(left, visit);
            visit_bool(right, visit);
        }
        BoolExpr::CompareNum(_, left, right) => {
            visit_num(left, visit);
            visit_num(right, visit);
        }
        BoolExpr::NumIn(item, values) => {
            visit_num(item, visit);
            for value in values {
                visit_num(value, visit);
            }
        }
    }
}

fn visit_num(expr: &NumExpr, visit: &mut dyn FnMut(&NumExpr)) {
    match expr {
        NumExpr::Add(left, right) | NumExpr::Sub(left, right) => {
            visit_num(left, visit);
            visit_num(right, visit);
        }
        NumExpr::Scale(_, inner) => visit_num(inner, visit),
        leaf => visit(leaf),
    }
}
