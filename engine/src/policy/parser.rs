//! Recursive-descent parser from tokens to [`PolicyDoc`].
//!
//! Expression grammar, loosest binding first:
//!
//! ```text
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "contains") sum)?
//! sum     := product (("+" | "-") product)*
//! product := unary ("*" unary)*
//! unary   := "-" unary | primary
//! primary := NUMBER | STRING | "true" | "false" | "(" or ")" | "[" (or ("," or)*)? "]"
//!          | "source" "(" STRING ")" "." NAME | "budget" "." "remaining" "(" STRING ")"
//!          | "eps" "(" or ")" | NAME ("." NAME)*
//! ```

use super::ast::{AxiomDecl, CompareOp, Expr, ExprKind, HeaderItem, Literal, PolicyDoc, ShieldDecl};
use super::diagnostic::{Diagnostic, Span};
use super::lexer::{describe, tokenize, Token, TokenKind};
use rust_decimal::Decimal;

/// Deepest nesting of expressions accepted. Each level is one native stack frame chain, so
/// the bound turns a hostile `((((...` into an error instead of a stack overflow.
pub const EXPR_DEPTH_MAX: usize = 64;

/// Tallest expression tree accepted. A long `a and b and ...` chain nests one level per
/// operator, and every later pass recurses over the tree, so the bound keeps their stack use
/// small (a few hundred frames).
pub const EXPR_HEIGHT_MAX: usize = 256;

/// Words that start an item, so they can never be field names or end an expression early.
const ITEM_KEYWORDS: [&str; 10] = [
    "policyset", "domain", "rate", "approvals", "escrow", "invariant", "abac", "axiom", "when",
    "require",
];

/// Parses policy text into its syntax tree.
pub fn parse(source: &str) -> Result<PolicyDoc, Diagnostic> {
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
    };
    parser.policy()
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
    depth: usize,
}

type Parsed<T> = Result<T, Diagnostic>;

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `advance` never moves past it.
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.position.min(last)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.kind != TokenKind::End {
            self.position += 1;
        }
        token
    }

    fn peek_word(&self) -> Option<&str> {
        match &self.peek().kind {
            TokenKind::Ident(word) => Some(word.as_str()),
            _ => None,
        }
    }

    fn at_word(&self, word: &str) -> bool {
        self.peek_word() == Some(word)
    }

    fn unexpected(&self, expected: &str) -> Diagnostic {
        let token = self.peek();
        Diagnostic::at(
            token.span,
            format!("expected {expected}, found {}", describe(&token.kind)),
        )
    }

    fn expect(&mut self, kind: TokenKind, expected: &str) -> Parsed<Span> {
        if self.peek().kind == kind {
            return Ok(self.advance().span);
        }
        Err(self.unexpected(expected))
    }

    fn expect_word(&mut self, word: &str) -> Parsed<Span> {
        if self.at_word(word) {
            return Ok(self.advance().span);
        }
        Err(self.unexpected(&format!("`{word}`")))
    }

    fn name(&mut self, expected: &str) -> Parsed<(String, Span)> {
        let token = self.peek().clone();
        if let TokenKind::Ident(word) = token.kind {
            self.advance();
            return Ok((word, token.span));
        }
        Err(self.unexpected(expected))
    }

    fn string(&mut self, expected: &str) -> Parsed<(String, Span)> {
        let token = self.peek().clone();
        if let TokenKind::Str(text) = token.kind {
            self.advance();
            return Ok((text, token.span));
        }
        Err(self.unexpected(expected))
    }

    fn number(&mut self, expected: &str) -> Parsed<Decimal> {
        if let TokenKind::Number(value) = self.peek().kind {
            self.advance();
            return Ok(value);
        }
        Err(self.unexpected(expected))
    }

    fn policy(&mut self) -> Parsed<PolicyDoc> {
        self.expect_word("policyset")?;
        let (name, _) = self.name("a policy set name")?;
        let (version_word, version_span) = self.name("a version such as `v1`")?;
        let version = version_word
            .strip_prefix('v')
            .and_then(|digits| digits.parse::<u32>().ok())
            .ok_or_else(|| {
                Diagnostic::at(
                    version_span,
                    format!("invalid version `{version_word}`; write `v` and a number, such as `v18`"),
                )
            })?;
        self.expect(TokenKind::Colon, "`:` after the version")?;

        let mut header = Vec::new();
        while !self.at_word("axiom") && self.peek().kind != TokenKind::End {
            let span = self.peek().span;
            header.push((self.header_item()?, span));
        }

        let mut axioms = Vec::new();
        while self.peek().kind != TokenKind::End {
            axioms.push(self.axiom()?);
        }
        Ok(PolicyDoc {
            name,
            version,
            header,
            axioms,
        })
    }

    fn header_item(&mut self) -> Parsed<HeaderItem> {
        let (word, span) = self.name("a header item or `axiom`")?;
        match word.as_str() {
            "domain" => Ok(HeaderItem::Domain(self.name("a domain name")?.0)),
            "rate" => {
                self.expect_word("limit")?;
                let count = self.number("the number of requests")?;
                self.expect_word("per")?;
                let per = self.name("`second`, `minute` or `hour`")?.0;
                self.expect_word("scope")?;
                let scope = self.name("`actor` or `tenant`")?.0;
                Ok(HeaderItem::RateLimit { count, per, scope })
            }
            "approvals" => self.approvals_item(),
            "escrow" => {
                self.expect_word("when")?;
                Ok(HeaderItem::Escrow(self.expr()?))
            }
            "invariant" => Ok(HeaderItem::Invariant(self.expr()?)),
            "abac" => {
                let (effect, effect_span) = self.name("`allow` or `deny`")?;
                self.expect_word("when")?;
                let condition = self.expr()?;
                match effect.as_str() {
                    "allow" => Ok(HeaderItem::AbacAllow(condition)),
                    "deny" => Ok(HeaderItem::AbacDeny(condition)),
                    _ => Err(Diagnostic::at(
                        effect_span,
                        format!("unknown abac effect `{effect}`; expected `allow` or `deny`"),
                    )),
                }
            }
            _ => Err(Diagnostic::at(
                span,
                format!("unknown header item `{word}`; expected domain, rate, approvals, escrow, invariant, abac or axiom"),
            )),
        }
    }

    fn approvals_item(&mut self) -> Parsed<HeaderItem> {
        let (setting, span) = self.name("an approvals setting")?;
        match setting.as_str() {
            "required" => Ok(HeaderItem::ApprovalsRequired(
                self.number("the number of approvals")?,
            )),
            "roles" => {
                self.expect(TokenKind::LBracket, "`[`")?;
                let mut roles = Vec::new();
                while self.peek().kind != TokenKind::RBracket {
                    roles.push(self.string("a role name in quotes")?.0);
                    if self.peek().kind != TokenKind::Comma {
                        break;
                    }
                    self.advance();
                }
                self.expect(TokenKind::RBracket, "`]`")?;
                Ok(HeaderItem::ApprovalsRoles(roles))
            }
            "sod" => match self.name("`true` or `false`")?.0.as_str() {
                "true" => Ok(HeaderItem::ApprovalsSod(true)),
                "false" => Ok(HeaderItem::ApprovalsSod(false)),
                other => Err(Diagnostic::at(
                    span,
                    format!("invalid sod value `{other}`; expected `true` or `false`"),
                )),
            },
            "expires_in" => {
                let token = self.advance();
                match token.kind {
                    TokenKind::Duration(value, unit) => {
                        Ok(HeaderItem::ApprovalsExpiresIn(value, unit))
                    }
                    other => Err(Diagnostic::at(
                        token.span,
                        format!("expected a duration such as `4h`, found {}", describe(&other)),
                    )),
                }
            }
            _ => Err(Diagnostic::at(
                span,
                format!("unknown approvals setting `{setting}`; expected required, roles, sod or expires_in"),
            )),
        }
    }

    fn axiom(&mut self) -> Parsed<AxiomDecl> {
        self.expect_word("axiom")?;
        let (name, name_span) = self.name("an axiom name")?;
        self.expect(TokenKind::Colon, "`:` after the axiom name")?;

        let when = if self.at_word("when") {
            self.advance();
            Some(self.expr()?)
        } else {
            None
        };
        self.expect_word("require")?;
        let require = self.expr()?;

        let else_shield = if self.at_word("else") {
            self.advance();
            Some(self.shield()?)
        } else {
            None
        };
        Ok(AxiomDecl {
            name,
            name_span,
            when,
            require,
            else_shield,
        })
    }

    fn shield(&mut self) -> Parsed<ShieldDecl> {
        self.expect_word("shield")?;
        self.expect(TokenKind::LParen, "`(` after `shield`")?;
        let token = self.advance();
        let shield_type = match token.kind {
            TokenKind::Str(text) | TokenKind::Ident(text) => text,
            other => {
                return Err(Diagnostic::at(
                    token.span,
                    format!("expected a shield type such as `READ_ONLY`, found {}", describe(&other)),
                ));
            }
        };

        let mut params = Vec::new();
        while self.peek().kind == TokenKind::Comma {
            self.advance();
            let (key, key_span) = self.name("a shield parameter name")?;
            self.expect(TokenKind::Assign, "`=` after the parameter name")?;
            let value_token = self.advance();
            let value = match value_token.kind {
                TokenKind::Number(value) => Literal::Number(value),
                TokenKind::Str(text) => Literal::Str(text),
                TokenKind::Ident(word) if word == "true" => Literal::Bool(true),
                TokenKind::Ident(word) if word == "false" => Literal::Bool(false),
                TokenKind::Ident(word) => Literal::Ident(word),
                other => {
                    return Err(Diagnostic::at(
                        value_token.span,
                        format!("expected a parameter value, found {}", describe(&other)),
                    ));
                }
            };
            params.push((key, value, key_span));
        }
        self.expect(TokenKind::RParen, "`)` to close the shield")?;
        Ok(ShieldDecl {
            shield_type,
            type_span: token.span,
            params,
        })
    }

    /// Parses one expression; every recursive path passes through here or `unary`, which
    /// count the nesting depth.
    fn expr(&mut self) -> Parsed<Expr> {
        let span = self.peek().span;
        self.enter()?;
        let result = self.or();
        self.depth -= 1;
        let expr = result?;
        Self::check_height(&expr, span)?;
        Ok(expr)
    }

    /// Rejects a tree taller than [`EXPR_HEIGHT_MAX`]. Called as each chain grows, so no tree
    /// taller than the bound is ever built (dropping one would recurse as deep as it is tall).
    fn check_height(expr: &Expr, span: Span) -> Parsed<()> {
        if expr.height > EXPR_HEIGHT_MAX {
            return Err(Diagnostic::at(
                span,
                format!("expression is nested more than {EXPR_HEIGHT_MAX} levels deep; split it into several axioms"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Parsed<()> {
        if self.depth >= EXPR_DEPTH_MAX {
            return Err(Diagnostic::at(
                self.peek().span,
                format!("expression is nested more than {EXPR_DEPTH_MAX} levels deep"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn or(&mut self) -> Parsed<Expr> {
        let mut left = self.and()?;
        while self.at_word("or") {
            self.advance();
            let right = self.and()?;
            let span = left.span;
            left = Expr::new(ExprKind::Or(Box::new(left), Box::new(right)), span);
            Self::check_height(&left, span)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed<Expr> {
        let mut left = self.not()?;
        while self.at_word("and") {
            self.advance();
            let right = self.not()?;
            let span = left.span;
            left = Expr::new(ExprKind::And(Box::new(left), Box::new(right)), span);
            Self::check_height(&left, span)?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Parsed<Expr> {
        if self.at_word("not") {
            let span = self.advance().span;
            self.enter()?;
            let operand = self.not();
            self.depth -= 1;
            return Ok(Expr::new(ExprKind::Not(Box::new(operand?)), span));
        }
        self.compare()
    }

    fn compare(&mut self) -> Parsed<Expr> {
        let left = self.sum()?;
        let op = match &self.peek().kind {
            TokenKind::Eq => Some(CompareOp::Eq),
            TokenKind::Ne => Some(CompareOp::Ne),
            TokenKind::Lt => Some(CompareOp::Lt),
            TokenKind::Le => Some(CompareOp::Le),
            TokenKind::Gt => Some(CompareOp::Gt),
            TokenKind::Ge => Some(CompareOp::Ge),
            _ => None,
        };
        let span = left.span;
        if let Some(op) = op {
            self.advance();
            let right = self.sum()?;
            return Ok(Expr::new(ExprKind::Compare(op, Box::new(left), Box::new(right)), span));
        }
        if self.at_word("in") {
            self.advance();
            let right = self.sum()?;
            return Ok(Expr::new(ExprKind::In(Box::new(left), Box::new(right)), span));
        }
        if self.at_word("contains") {
            self.advance();
            let right = self.sum()?;
            return Ok(Expr::new(ExprKind::Contains(Box::new(left), Box::new(right)), span));
        }
        Ok(left)
    }

    fn sum(&mut self) -> Parsed<Expr> {
        let mut left = self.product()?;
        loop {
            let is_plus = match self.peek().kind {
                TokenKind::Plus => true,
                TokenKind::Minus => false,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.product()?;
            let span = left.span;
            let kind = if is_plus {
                ExprKind::Add(Box::new(left), Box::new(right))
            } else {
                ExprKind::Sub(Box::new(left), Box::new(right))
            };
            left = Expr::new(kind, span);
            Self::check_height(&left, span)?;
        }
    }

    fn product(&mut self) -> Parsed<Expr> {
        let mut left = self.unary()?;
        while self.peek().kind == TokenKind::Star {
            self.advance();
            let right = self.unary()?;
            let span = left.span;
            left = Expr::new(ExprKind::Mul(Box::new(left), Box::new(right)), span);
            Self::check_height(&left, span)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Parsed<Expr> {
        if self.peek().kind == TokenKind::Minus {
            let span = self.advance().span;
            self.enter()?;
            let operand = self.unary();
            self.depth -= 1;
            return Ok(Expr::new(ExprKind::Neg(Box::new(operand?)), span));
        }
        self.primary()
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let token = self.peek().clone();
        let span = token.span;
        let kind = match token.kind {
            TokenKind::Number(value) => {
                self.advance();
                ExprKind::Number(value)
            }
            TokenKind::Str(text) => {
                self.advance();
                ExprKind::Str(text)
            }
            TokenKind::LParen => {
                self.advance();
                let inner = self.expr()?;
                self.expect(TokenKind::RParen, "`)`")?;
                return Ok(inner);
            }
            TokenKind::LBracket => {
                self.advance();
                ExprKind::List(self.list_items()?)
            }
            TokenKind::Ident(word) => return self.named(word, span),
            _ => return Err(self.unexpected("an expression")),
        };
        Ok(Expr::new(kind, span))
    }

    fn list_items(&mut self) -> Parsed<Vec<Expr>> {
        let mut items = Vec::new();
        while self.peek().kind != TokenKind::RBracket {
            items.push(self.expr()?);
            if self.peek().kind != TokenKind::Comma {
                break;
            }
            self.advance();
        }
        self.expect(TokenKind::RBracket, "`,` or `]`")?;
        Ok(items)
    }

    fn named(&mut self, word: String, span: Span) -> Parsed<Expr> {
        if ITEM_KEYWORDS.contains(&word.as_str()) || ["and", "or", "not", "in", "contains", "else"].contains(&word.as_str()) {
            return Err(self.unexpected("an expression"));
        }
        self.advance();

        let kind = match word.as_str() {
            "true" => ExprKind::Bool(true),
            "false" => ExprKind::Bool(false),
            "eps" => {
                self.expect(TokenKind::LParen, "`(` after `eps`")?;
                let width = self.expr()?;
                self.expect(TokenKind::RParen, "`)` to close `eps`")?;
                ExprKind::Eps(Box::new(width))
            }
            "source" if self.peek().kind == TokenKind::LParen => {
                self.advance();
                let (name, _) = self.string("a source name in quotes")?;
                self.expect(TokenKind::RParen, "`)` after the source name")?;
                self.expect(TokenKind::Dot, "`.` and a source attribute")?;
                let (attribute, _) = self.name("`age_sec`, `lag_sec` or `health_score`")?;
                ExprKind::Source { name, attribute }
            }
            "budget" if self.peek().kind == TokenKind::Dot => {
                self.advance();
                self.expect_word("remaining")?;
                self.expect(TokenKind::LParen, "`(` after `remaining`")?;
                let (code, _) = self.string("a budget code in quotes")?;
                self.expect(TokenKind::RParen, "`)` after the budget code")?;
                ExprKind::Budget { code }
            }
            _ => {
                let mut path = vec![word];
                while self.peek().kind == TokenKind::Dot {
                    self.advance();
                    path.push(self.name("a field name after `.`")?.0);
                }
                ExprKind::Field(path)
            }
        };
        Ok(Expr::new(kind, span))
    }
}
