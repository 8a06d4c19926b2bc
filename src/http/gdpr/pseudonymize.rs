//! Replacing a subject's id with its pseudonym inside stored JSON values and row ids.
//!
//! An id is replaced where it stands alone as a token: a whole string, an object key, or a
//! part of a longer string bounded by characters that never occur inside an id (spaces,
//! punctuation other than `-_.@:/`, control characters such as the unit separator of the
//! idempotency row ids), or by sentence punctuation. So `ap-agent-7` is replaced in
//! `"refund for ap-agent-7."` and in `"ap-agent-7\u{1f}key"`, but not inside `ap-agent-70`.

use serde_json::Value;

/// Returns true when `c` can be part of an id, so a match next to it is part of a longer id.
fn is_id_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':' | '/')
}

/// Returns true when an id followed by `rest` ends there: nothing follows, a character that
/// is never part of an id, or sentence punctuation (`.`, `:`) not followed by an id character.
fn ends_token(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some('.' | ':') => !chars.next().is_some_and(is_id_char),
        Some(c) => !is_id_char(c),
    }
}

/// Returns `text` with every standalone occurrence of `subject_id` replaced by `pseudonym`,
/// or None when it has none.
pub fn pseudonymize_text(text: &str, subject_id: &str, pseudonym: &str) -> Option<String> {
    if subject_id.is_empty() || !text.contains(subject_id) {
        return None;
    }
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    let mut replaced = false;
    while let Some(index) = rest.find(subject_id) {
        let end = index + subject_id.len();
        let before = rest[..index].chars().next_back();
        let standalone = !before.is_some_and(is_id_char) && ends_token(&rest[end..]);
        output.push_str(&rest[..index]);
        if standalone {
            output.push_str(pseudonym);
            replaced = true;
        } else {
            output.push_str(subject_id);
        }
        rest = &rest[end..];
    }
    output.push_str(rest);
    replaced.then_some(output)
}

/// Returns true when `text` contains `subject_id` as a standalone token.
pub fn mentions_text(text: &str, subject_id: &str) -> bool {
    pseudonymize_text(text, subject_id, "").is_some()
}

/// Returns `value` with the subject's id replaced in every string and object key, or None
/// when it names the subject nowhere.
pub fn pseudonymize_value(value: &Value, subject_id: &str, pseudonym: &str) -> Option<Value> {
    match value {
        Value::String(text) => pseudonymize_text(text, subject_id, pseudonym).map(Value::String),
        Value::Array(items) => {
            let rewritten: Vec<Option<Value>> = items
                .iter()
                .map(|item| pseudonymize_value(item, subject_id, pseudonym))
                .collect();
            if rewritten.iter().all(Option::is_none) {
                return None;
            }
            Some(Value::Array(
                rewritten
                    .into_iter()
                    .zip(items)
                    .map(|(new, old)| new.unwrap_or_else(|| old.clone()))
                    .collect(),
            ))
        }
        Value::Object(fields) => {
            let mut changed = false;
            let mut output = serde_json::Map::with_capacity(fields.len());
            for (key, item) in fields {
                let new_key = pseudonymize_text(key, subject_id, pseudonym);
                let new_item = pseudonymize_value(item, subject_id, pseudonym);
                changed |= new_key.is_some() || new_item.is_some();
                output.insert(
                    new_key.unwrap_or_else(|| key.clone()),
                    new_item.unwrap_or_else(|| item.clone()),
                );
            }
            changed.then_some(Value::Object(output))
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// Returns true when `value` names the subject in any string or object key.
pub fn mentions(value: &Value, subject_id: &str) -> bool {
    match value {
        Value::String(text) => mentions_text(text, subject_id),
        Value::Array(items) => items.iter().any(|item| mentions(item, subject_id)),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, item)| mentions_text(key, subject_id) || mentions(item, subject_id)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn standalone_ids_are_replaced() {
        let cases = [
            ("ap-agent-7", Some("psn-1")),
            ("refund for ap-agent-7.", Some("refund for psn-1.")),
            ("ap-agent-7.eu", None),
            ("refund for ap-agent-7 now", Some("refund for psn-1 now")),
            ("ap-agent-7\u{1f}key-1", Some("psn-1\u{1f}key-1")),
            ("ap-agent-70", None),
            ("xap-agent-7", None),
            ("ap-agent-7,ap-agent-7", Some("psn-1,psn-1")),
            ("nothing here", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                pseudonymize_text(text, "ap-agent-7", "psn-1").as_deref(),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn nested_values_and_keys_are_replaced() {
        let value = json!({
            "requesting_actor": "alice",
            "approvals": [{"by": "bob"}, {"by": "alice"}],
            "per_actor": {"alice": 3},
            "amount": 12,
        });
        let rewritten = pseudonymize_value(&value, "alice", "psn-a");
        assert_eq!(
            rewritten,
            Some(json!({
                "requesting_actor": "psn-a",
                "approvals": [{"by": "bob"}, {"by": "psn-a"}],
                "per_actor": {"psn-a": 3},
                "amount": 12,
            }))
        );
        assert!(mentions(&value, "alice"));
        assert!(!mentions(&value, "carol"));
        assert_eq!(pseudonymize_value(&value, "carol", "psn-c"), None);
    }
}
