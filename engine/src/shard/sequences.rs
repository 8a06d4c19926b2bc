//! Sequence high-water marks per stream.

use std::collections::HashMap;

/// The highest accepted sequence of each stream of one tenant.
#[derive(Debug, Default)]
pub struct SequenceMarks {
    marks: HashMap<String, u64>,
}

/// Why a sequence was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceTooLow {
    /// The stream's current mark; the claim was equal or lower.
    pub mark: u64,
}

impl SequenceMarks {
    /// Checks that `value` is strictly above the stream's mark (gaps are allowed) and returns
    /// the current mark, None for a new stream.
    pub fn check(&self, stream_id: &str, value: u64) -> Result<Option<u64>, SequenceTooLow> {
        match self.marks.get(stream_id) {
            Some(&mark) if value <= mark => Err(SequenceTooLow { mark }),
            previous => Ok(previous.copied()),
        }
    }

    /// Returns the stream's mark, None for a stream without one.
    pub fn mark(&self, stream_id: &str) -> Option<u64> {
        self.marks.get(stream_id).copied()
    }

    /// True when the stream already has a mark.
    pub fn contains(&self, stream_id: &str) -> bool {
        self.marks.contains_key(stream_id)
    }

    /// Raises the stream's mark to `value` if it is higher.
    pub fn raise(&mut self, stream_id: &str, value: u64) {
        match self.marks.get_mut(stream_id) {
            Some(mark) => *mark = (*mark).max(value),
            None => {
                self.marks.insert(stream_id.to_owned(), value);
            }
        }
    }

    /// Undoes a raise to `raised` by a deferred request: the mark goes back to `previous`
    /// only if nothing raised it further in the meantime, so a later accepted sequence
    /// stays protected.
    pub fn restore(&mut self, stream_id: &str, raised: u64, previous: Option<u64>) {
        if self.marks.get(stream_id) != Some(&raised) {
            return;
        }
        match previous {
            Some(value) => {
                self.marks.insert(stream_id.to_owned(), value);
            }
            None => {
                self.marks.remove(stream_id);
            }
        }
    }

    /// Number of streams with a mark.
    pub fn len(&self) -> usize {
        self.marks.len()
    }

    /// True when no stream has a mark.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sequence_strictly_increasing_with_gaps() {
        let mut marks = SequenceMarks::default();
        assert_eq!(marks.check("s", 5), Ok(None));
        marks.raise("s", 5);

        assert_eq!(marks.check("s", 5), Err(SequenceTooLow { mark: 5 }));
        assert_eq!(marks.check("s", 4), Err(SequenceTooLow { mark: 5 }));
        assert_eq!(marks.check("s", 9), Ok(Some(5)));
    }

    #[test]
    fn restore_keeps_a_later_mark() {
        let mut marks = SequenceMarks::default();
        marks.raise("s", 5);
        marks.raise("s", 7);
        marks.restore("s", 5, None);
        assert_eq!(marks.check("s", 7), Err(SequenceTooLow { mark: 7 }));

        marks.restore("s", 7, Some(5));
        assert_eq!(marks.check("s", 6), Ok(Some(5)));
    }
}
