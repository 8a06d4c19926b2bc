//! Strict JSON parsing and RFC 8785 (JCS) canonical serialization.
//!
//! Everything the engine hashes or signs goes through here. [`parse_json`] accepts only the
//! JSON subset the protocol allows: valid UTF-8, no duplicate object keys, no float tokens,
//! integers within the I-JSON safe range, and bounded nesting. [`canonicalize`] writes the
//! RFC 8785 form, which is byte-for-byte what every client must hash and sign.
//! Exact decimals such as money travel as JSON strings and are read with [`parse_decimal`].

mod decimal;
mod error;
mod number_format;
mod number_scan;
mod parse;
mod serialize;

pub use decimal::{parse_decimal, DecimalError, DECIMAL_TEXT_LEN_MAX};
pub use error::CanonicalError;
pub use number_format::format_ecmascript_number;
pub use parse::{parse_json, NESTING_DEPTH_MAX, SAFE_INTEGER_MAX};
pub use serialize::{canonicalize, canonicalize_into, compare_utf16};
