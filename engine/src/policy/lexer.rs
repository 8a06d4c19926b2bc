//! Splits policy text into tokens with their positions.
//!
//! Newlines and indentation carry no meaning: items start with keywords, so the parser knows
//! where each one ends. `#` starts a comment that runs to the end of the line.

use super::diagnostic::{Diagnostic, Span};
use rust_decimal::Decimal;

/// Largest policy text accepted, in bytes. Real policy sets are a few kilobytes; the cap keeps
/// a hostile upload from costing more than a bounded amount of parsing time and memory.
pub const POLICY_BYTES_MAX: usize = 256 * 1024;

/// Longest identifier or string literal accepted, in characters.
pub const TOKEN_CHARS_MAX: usize = 256;

/// The kinds of token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A name such as `policyset`, `action` or `pay_invoice`.
    Ident(String),
    /// A double-quoted string literal, without its quotes.
    Str(String),
    /// An exact decimal literal such as `10000` or `1.00`.
    Number(Decimal),
    /// A number directly followed by a unit, such as `4h`.
    Duration(Decimal, String),
    Colon,
    Comma,
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Plus,
    Minus,
    Star,
    Assign,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// End of input.
    End,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Where it starts.
    pub span: Span,
}

/// Describes a token kind for error messages.
pub fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Ident(name) => format!("`{name}`"),
        TokenKind::Str(text) => format!("string \"{text}\""),
        TokenKind::Number(value) => format!("number `{value}`"),
        TokenKind::Duration(value, unit) => format!("duration `{value}{unit}`"),
        TokenKind::Colon => "`:`".into(),
        TokenKind::Comma => "`,`".into(),
        TokenKind::Dot => "`.`".into(),
        TokenKind::LParen => "`(`".into(),
        TokenKind::RParen => "`)`".into(),
        TokenKind::LBracket => "`[`".into(),
        TokenKind::RBracket => "`]`".into(),
        TokenKind::Plus => "`+`".into(),
        TokenKind::Minus => "`-`".into(),
        TokenKind::Star => "`*`".into(),
        TokenKind::Assign => "`=`".into(),
        TokenKind::Eq => "`==`".into(),
        TokenKind::Ne => "`!=`".into(),
        TokenKind::Lt => "`<`".into(),
        TokenKind::Le => "`<=`".into(),
        TokenKind::Gt => "`>`".into(),
        TokenKind::Ge => "`>=`".into(),
        TokenKind::End => "end of input".into(),
    }
}

/// Splits `source` into tokens, ending with one `End` token.
///
/// Stops at the first lexical error, because later positions would be guesses.
pub fn tokenize(source: &str) -> Result<Vec<Token>, Diagnostic> {
    if source.len() > POLICY_BYTES_MAX {
        return Err(Diagnostic {
            line: 1,
            column: 1,
            message: format!(
                "policy text is {} bytes, above the limit of {POLICY_BYTES_MAX} bytes",
                source.len()
            ),
        });
    }

    let mut lexer = Lexer {
        chars: source.chars().collect(),
        index: 0,
        line: 1,
        column: 1,
    };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let is_end = token.kind == TokenKind::End;
        tokens.push(token);
        if is_end {
            return Ok(tokens);
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    index: usize,
    line: u32,
    column: u32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.index).copied()
    }

    fn peek_second(&self) -> Option<char> {
        self.chars.get(self.index + 1).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.index += 1;
        if next == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(next)
    }

    fn span(&self) -> Span {
        Span {
            line: self.line,
            column: self.column,
        }
    }

    fn skip_blanks_and_comments(&mut self) {
        while let Some(next) = self.peek() {
            if next == '#' {
                while let Some(skipped) = self.peek() {
                    if skipped == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else if next.is_whitespace() {
                self.bump();
            } else {
                return;
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, Diagnostic> {
        self.skip_blanks_and_comments();
        let span = self.span();
        let Some(first) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::End,
                span,
            });
        };

        let kind = if first.is_ascii_alphabetic() || first == '_' {
            TokenKind::Ident(self.word(span)?)
        } else if first.is_ascii_digit() {
            self.number(span)?
        } else if first == '"' {
            TokenKind::Str(self.string(span)?)
        } else {
            self.punctuation(span, first)?
        };
        Ok(Token { kind, span })
    }

    fn word(&mut self, span: Span) -> Result<String, Diagnostic> {
        let mut word = String::new();
        while let Some(next) = self.peek() {
            if !(next.is_ascii_alphanumeric() || next == '_') {
                break;
            }
            word.push(next);
            self.bump();
        }
        if word.chars().count() > TOKEN_CHARS_MAX {
            return Err(Diagnostic::at(
                span,
                format!("name is longer than {TOKEN_CHARS_MAX} characters"),
            ));
        }
        Ok(word)
    }

    fn number(&mut self, span: Span) -> Result<TokenKind, Diagnostic> {
        let mut digits = String::new();
        while let Some(next) = self.peek() {
            let is_fraction_dot = next == '.'
                && !digits.contains('.')
                && self.peek_second().is_some_and(|after| after.is_ascii_digit());
            if !(next.is_ascii_digit() || is_fraction_dot) {
                break;
            }
            digits.push(next);
            self.bump();
        }
        let value = Decimal::from_str_exact(&digits).map_err(|error| {
            Diagnostic::at(span, format!("invalid number `{digits}`: {error}"))
        })?;

        if self.peek().is_some_and(|next| next.is_ascii_alphabetic()) {
            let unit = self.word(span)?;
            return Ok(TokenKind::Duration(value, unit));
        }
        Ok(TokenKind::Number(value))
    }

    fn string(&mut self, span: Span) -> Result<String, Diagnostic> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(Diagnostic::at(span, "string literal is not closed"));
                }
                Some('"') => break,
                Some('\\') => match self.bump() {
                    Some('"') => text.push('"'),
                    Some('\\') => text.push('\\'),
                    other => {
                        let shown = other.map(String::from).unwrap_or_default();
                        return Err(Diagnostic::at(
                            span,
                            format!("unknown escape `\\{shown}` in string literal; only `\\\"` and `\\\\` are allowed"),
                        ));
                    }
                },
                Some(other) => text.push(other),
            }
            if text.chars().count() > TOKEN_CHARS_MAX {
                return Err(Diagnostic::at(
                    span,
                    format!("string literal is longer than {TOKEN_CHARS_MAX} characters"),
                ));
            }
        }
        Ok(text)
    }

    fn punctuation(&mut self, span: Span, first: char) -> Result<TokenKind, Diagnostic> {
        self.bump();
        let followed_by_equals = self.peek() == Some('=');
        let kind = match first {
            ':' => TokenKind::Colon,
            ',' => TokenKind::Comma,
            '.' => TokenKind::Dot,
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            '[' => TokenKind::LBracket,
            ']' => TokenKind::RBracket,
            '+' => TokenKind::Plus,
            '-' => TokenKind::Minus,
            '*' => TokenKind::Star,
            '=' if followed_by_equals => TokenKind::Eq,
            '=' => TokenKind::Assign,
            '!' if followed_by_equals => TokenKind::Ne,
            '<' if followed_by_equals => TokenKind::Le,
            '<' => TokenKind::Lt,
            '>' if followed_by_equals => TokenKind::Ge,
            '>' => TokenKind::Gt,
            other => {
                return Err(Diagnostic::at(
                    span,
                    format!("unexpected character `{other}`"),
                ));
            }
        };
        if matches!(
            kind,
            TokenKind::Eq | TokenKind::Ne | TokenKind::Le | TokenKind::Ge
        ) {
            self.bump();
        }
        Ok(kind)
    }
}
