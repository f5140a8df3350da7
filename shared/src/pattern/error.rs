//! The parser's error: where in the pattern, and what was expected there.

/// A rejected filter pattern.
///
/// `column` is the **1-based character column** in the pattern text (characters, not bytes, so
/// it points at the right place in a pattern with non-ASCII text). The message says what was
/// expected or which documented limit was exceeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern at column {column}: {message}")]
pub struct PatternError {
    column: usize,
    message: String,
}

impl PatternError {
    /// An error at byte offset `at` of `src` (converted to a character column).
    pub(crate) fn at(src: &str, at: usize, message: impl Into<String>) -> Self {
        let at = at.min(src.len());
        // `at` is always a char boundary in the parser; fall back to the end if it is not.
        let column = src
            .get(..at)
            .map_or_else(|| src.chars().count(), |s| s.chars().count())
            + 1;
        Self {
            column,
            message: message.into(),
        }
    }

    /// 1-based character column of the offending text.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What was wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}
