//! Errors raised while parsing JSON under the protocol's strict rules.

use thiserror::Error;

/// Why a JSON document was rejected. Line and column are 1-based, as serde_json counts them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CanonicalError {
    /// The bytes are not UTF-8; `offset` is the byte index of the first invalid sequence.
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Byte index of the first invalid sequence.
        offset: usize,
    },

    /// The text is not JSON, or has trailing content after the value.
    #[error("invalid JSON: {message}")]
    Syntax {
        /// serde_json's description, with line and column.
        message: String,
    },

    /// A number token has a fraction or an exponent. Decimals must be sent as strings.
    #[error(
        "float number `{token}` at line {line} column {column} is not allowed; \
         send integers, or decimals as strings such as \"123.45\""
    )]
    FloatNotAllowed {
        /// The number token as written.
        token: String,
        /// Line of the token's first character.
        line: usize,
        /// Column of the token's first character.
        column: usize,
    },

    /// An integer lies outside ±(2^53 − 1), the range every JSON implementation reads exactly.
    #[error(
        "integer `{token}` at line {line} column {column} is outside ±9007199254740991; \
         send larger values as strings"
    )]
    IntegerOutOfRange {
        /// The number token as written.
        token: String,
        /// Line of the token's first character.
        line: usize,
        /// Column of the token's first character.
        column: usize,
    },

    /// The token `-0` has two spellings for one integer, so it is rejected; write `0`.
    #[error("negative zero at line {line} column {column} is not allowed; write 0")]
    NegativeZero {
        /// Line of the token.
        line: usize,
        /// Column of the token.
        column: usize,
    },

    /// An object has the same key twice, after unescaping.
    #[error("duplicate object key `{key}` at line {line} column {column}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Line where the repeated key ends.
        line: usize,
        /// Column where the repeated key ends.
        column: usize,
    },

    /// Arrays and objects nest deeper than the limit.
    #[error("JSON nests deeper than {depth_max} levels at line {line} column {column}")]
    TooDeep {
        /// The nesting limit.
        depth_max: usize,
        /// Line of the first container past the limit.
        line: usize,
        /// Column of the first container past the limit.
        column: usize,
    },
}
