//! Line-based diff between two policy versions, printed in unified format.
//!
//! A longest-common-subsequence table over the lines that differ is enough here: policy
//! sources are small (see [`super::POLICY_SOURCE_BYTES_MAX`]), and trimming the common prefix
//! and suffix first leaves only the changed region for the quadratic step. A dependency such
//! as a Myers diff crate would be faster on large inputs but is not needed at this size.

/// Unchanged lines shown around each change, as in `diff -u`.
pub const DIFF_CONTEXT_LINES: usize = 3;
/// Largest LCS table built, in cells (4 bytes each, so at most 16 MiB), after trimming the
/// common prefix and suffix. Two sources whose changed regions exceed it are not diffed.
pub const DIFF_CELLS_MAX: usize = 4_000_000;

/// Error of a diff that could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// The changed regions are too large for the LCS table.
    #[error("changed regions of {old_lines} and {new_lines} lines exceed the diff limit of {DIFF_CELLS_MAX} cells")]
    TooLarge {
        /// Changed lines in the old text.
        old_lines: usize,
        /// Changed lines in the new text.
        new_lines: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Keep,
    Delete,
    Insert,
}

/// Returns the unified diff from `old` to `new`, or an empty string when the lines are equal.
///
/// The output starts with `--- old_label` and `+++ new_label`, followed by hunks headed
/// `@@ -start,count +start,count @@` with [`DIFF_CONTEXT_LINES`] lines of context.
pub fn diff_lines(
    old_label: &str,
    old: &str,
    new_label: &str,
    new: &str,
) -> Result<String, DiffError> {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let script = edit_script(&old_lines, &new_lines)?;
    if script.iter().all(|(edit, _)| *edit == Edit::Keep) {
        return Ok(String::new());
    }

    let mut output = format!("--- {old_label}\n+++ {new_label}\n");
    for (start, end) in hunk_ranges(&script) {
        write_hunk(&mut output, &script, start, end);
    }
    Ok(output)
}

/// Builds the full edit script: the common prefix, the LCS-aligned middle, the common suffix.
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Result<Vec<(Edit, &'a str)>, DiffError> {
    let prefix = old
        .iter()
        .zip(new.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_middle = &old[prefix..old.len() - suffix];
    let new_middle = &new[prefix..new.len() - suffix];

    let mut script: Vec<(Edit, &str)> = Vec::with_capacity(old.len() + new.len());
    script.extend(old[..prefix].iter().map(|line| (Edit::Keep, *line)));
    script.extend(align(old_middle, new_middle)?);
    script.extend(old[old.len() - suffix..].iter().map(|line| (Edit::Keep, *line)));
    Ok(script)
}

/// Aligns two line sequences on a longest common subsequence; deletions come before
/// insertions at each point of difference.
fn align<'a>(old: &[&'a str], new: &[&'a str]) -> Result<Vec<(Edit, &'a str)>, DiffError> {
    let rows = old.len() + 1;
    let columns = new.len() + 1;
    let cells = rows.saturating_mul(columns);
    if cells > DIFF_CELLS_MAX {
        return Err(DiffError::TooLarge {
            old_lines: old.len(),
            new_lines: new.len(),
        });
    }

    // lengths[i * columns + j] is the LCS length of old[i..] and new[j..].
    let mut lengths = vec![0u32; cells];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lengths[i * columns + j] = if old[i] == new[j] {
                lengths[(i + 1) * columns + j + 1] + 1
            } else {
                lengths[(i + 1) * columns + j].max(lengths[i * columns + j + 1])
            };
        }
    }

    let mut script = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        if old[i] == new[j] {
            script.push((Edit::Keep, old[i]));
            i += 1;
            j += 1;
        } else if lengths[(i + 1) * columns + j] >= lengths[i * columns + j + 1] {
            script.push((Edit::Delete, old[i]));
            i += 1;
        } else {
            script.push((Edit::Insert, new[j]));
            j += 1;
        }
    }
    script.extend(old[i..].iter().map(|line| (Edit::Delete, *line)));
    script.extend(new[j..].iter().map(|line| (Edit::Insert, *line)));
    Ok(script)
}

/// Returns the half-open script ranges of each hunk: changes with their context, merged when
/// the context of two changes would touch.
fn hunk_ranges(script: &[(Edit, &str)]) -> Vec<(usize, usize)> {
    let changes: Vec<usize> = script
        .iter()
        .enumerate()
        .filter(|(_, (edit, _))| *edit != Edit::Keep)
        .map(|(index, _)| index)
        .collect();

    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for change in changes {
        let start = change.saturating_sub(DIFF_CONTEXT_LINES);
        let end = (change + DIFF_CONTEXT_LINES + 1).min(script.len());
        match ranges.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => ranges.push((start, end)),
        }
    }
    ranges
}

fn write_hunk(output: &mut String, script: &[(Edit, &str)], start: usize, end: usize) {
    let old_before = script[..start]
        .iter()
        .filter(|(edit, _)| *edit != Edit::Insert)
        .count();
    let new_before = script[..start]
        .iter()
        .filter(|(edit, _)| *edit != Edit::Delete)
        .count();
    let hunk = &script[start..end];
    let old_count = hunk.iter().filter(|(edit, _)| *edit != Edit::Insert).count();
    let new_count = hunk.iter().filter(|(edit, _)| *edit != Edit::Delete).count();

    // Unified format numbers lines from 1; an empty side names the line before it.
    let old_start = if old_count == 0 { old_before } else { old_before + 1 };
    let new_start = if new_count == 0 { new_before } else { new_before + 1 };
    output.push_str(&format!(
        "@@ -{old_start},{old_count} +{new_start},{new_count} @@\n"
    ));

    for (edit, line) in hunk {
        let marker = match edit {
            Edit::Keep => ' ',
            Edit::Delete => '-',
            Edit::Insert => '+',
        };
        output.push(marker);
        output.push_str(line);
        output.push('\n');
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_give_empty_diff() {
        let text = "a\nb\nc\n";
        assert_eq!(diff_lines("v1", text, "v2", text), Ok(String::new()));
    }

    #[test]
    fn insertion_into_empty_text() {
        let diff = diff_lines("v1", "", "v2", "x\ny\n").unwrap();
        assert_eq!(diff, "--- v1\n+++ v2\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let old: String = (1..=20).map(|n| format!("line {n}\n")).collect();
        let new = old.replace("line 2\n", "line two\n").replace("line 18\n", "line eighteen\n");
        let diff = diff_lines("a", &old, "b", &new).unwrap();
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("@@ -1,5 +1,5 @@\n line 1\n-line 2\n+line two\n line 3\n"), "{diff}");
        assert!(diff.contains("@@ -15,6 +15,6 @@\n"), "{diff}");
    }

    #[test]
    fn oversized_change_is_rejected() {
        let old: String = (0..3_000).map(|n| format!("a{n}\n")).collect();
        let new: String = (0..3_000).map(|n| format!("b{n}\n")).collect();
        assert!(matches!(
            diff_lines("a", &old, "b", &new),
            Err(DiffError::TooLarge { old_lines: 3_000, new_lines: 3_000 })
        ));
    }
}
