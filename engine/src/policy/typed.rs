//! The type-checked expression forms that evaluation and proofs work on.
//!
//! Each form has one type, so a string can never reach arithmetic and a number can never be
//! compared with a string: those mistakes are rejected when the policy is compiled.

use super::ast::CompareOp;
use super::diagnostic::Span;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// An attribute of a server-side source reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SourceAttribute {
    /// Seconds since the source last reported.
    AgeSec,
    /// Seconds the source's data lags behind real time, as it reports.
    LagSec,
    /// The source's own health score.
    HealthScore,
}

impl SourceAttribute {
    /// Returns the attribute name as written in policy text.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceAttribute::AgeSec => "age_sec",
            SourceAttribute::LagSec => "lag_sec",
            SourceAttribute::HealthScore => "health_score",
        }
    }
}

/// A numeric expression. Every value is an exact decimal; uncertain ones become intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NumExpr {
    Const(Decimal),
    /// `action.params.NAME`, read as an exact decimal.
    Param(String),
    /// `batch.size`: the number of object ids.
    BatchSize,
    Source(String, SourceAttribute),
    /// `budget.remaining("CODE")`.
    Budget(String),
    /// `eps(width)`: an unknown value in `[-width, width]`, one per occurrence; `site`
    /// identifies the occurrence.
    Eps { width: Decimal, site: Span },
    Add(Box<NumExpr>, Box<NumExpr>),
    Sub(Box<NumExpr>, Box<NumExpr>),
    /// Multiplication by a constant factor.
    Scale(Decimal, Box<NumExpr>),
}

/// A string-valued field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StrField {
    ActionName,
    ActionScope,
    ActorId,
    ActorTenant,
    TargetDomain,
    PrincipalKid,
    PrincipalTenant,
}

impl StrField {
    /// Returns the field path as written in policy text.
    pub fn path(self) -> &'static str {
        match self {
            StrField::ActionName => "action.name",
            StrField::ActionScope => "action.scope",
            StrField::ActorId => "actor.id",
            StrField::ActorTenant => "actor.tenant",
            StrField::TargetDomain => "target.domain",
            StrField::PrincipalKid => "principal.kid",
            StrField::PrincipalTenant => "principal.tenant",
        }
    }
}

/// A string expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StrExpr {
    Const(String),
    Field(StrField),
    /// `action.params.NAME`, read as a JSON string.
    Param(String),
}

/// A list-of-strings field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListField {
    ActorRoles,
    TargetObjectTypes,
    TargetObjectIds,
}

impl ListField {
    /// Returns the field path as written in policy text.
    pub fn path(self) -> &'static str {
        match self {
            ListField::ActorRoles => "actor.roles",
            ListField::TargetObjectTypes => "target.object_types",
            ListField::TargetObjectIds => "target.object_ids",
        }
    }
}

/// A list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ListExpr {
    Const(Vec<String>),
    Field(ListField),
}

/// A condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BoolExpr {
    Const(bool),
    Not(Box<BoolExpr>),
    And(Box<BoolExpr>, Box<BoolExpr>),
    Or(Box<BoolExpr>, Box<BoolExpr>),
    /// Numeric comparison.
    CompareNum(CompareOp, NumExpr, NumExpr),
    /// String equality (`equal` true) or inequality.
    CompareStr { equal: bool, left: StrExpr, right: StrExpr },
    /// `number in [n1, n2, ...]`: equal to one of the listed numbers.
    NumIn(NumExpr, Vec<NumExpr>),
    /// `string in list` or `list contains string`.
    StrIn(StrExpr, ListExpr),
    /// `string contains string`: substring test.
    Substring { haystack: StrExpr, needle: StrExpr },
}

/// A condition together with where it was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The checked expression.
    pub expr: BoolExpr,
    /// Where the expression starts.
    pub span: Span,
}
