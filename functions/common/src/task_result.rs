//! One S3 Batch Operations task's answer: a result code the job acts on and a result string the
//! completion report shows.
//!
//! The job retries a task answered `TemporaryFailure` and gives up on a `PermanentFailure`
//! (S3 User Guide, "Invoke AWS Lambda function": "resultCode … Succeeded, TemporaryFailure,
//! PermanentFailure"); the result string lands in the report's CSV column, one row per object,
//! so it is kept short: what was done, or why it failed.

use std::fmt::Display;

use crate::failure::ObjectFailure;

/// Longest result string sent, in bytes: a report over a million objects stays readable, and
/// an error chain (SDK error contexts nest) cannot blow a row up.
pub const MAX_RESULT_STRING_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    Succeeded,
    /// Batch Operations retries the task: throttling, 5xx, timeouts, a lease held elsewhere.
    TemporaryFailure,
    /// No retry can fix it: a missing object, a refusal, a corrupt file.
    PermanentFailure,
}

impl ResultCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultCode::Succeeded => "Succeeded",
            ResultCode::TemporaryFailure => "TemporaryFailure",
            ResultCode::PermanentFailure => "PermanentFailure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub code: ResultCode,
    /// At most [`MAX_RESULT_STRING_BYTES`].
    pub text: String,
}

impl TaskResult {
    /// A task whose object was processed (or skipped as not this function's kind of file);
    /// `summary` says what was done.
    pub fn succeeded(summary: impl Display) -> Self {
        TaskResult {
            code: ResultCode::Succeeded,
            text: bounded(summary.to_string()),
        }
    }

    /// A failed task, permanent or temporary as the failure classifies itself
    /// ([`ObjectFailure::transient`]).
    pub fn failed(failure: &(impl ObjectFailure + ?Sized)) -> Self {
        Self::from_failure(failure.transient(), failure.to_string())
    }

    pub(crate) fn from_failure(transient: bool, text: String) -> Self {
        TaskResult {
            code: if transient {
                ResultCode::TemporaryFailure
            } else {
                ResultCode::PermanentFailure
            },
            text: bounded(text),
        }
    }
}

/// `text` cut to [`MAX_RESULT_STRING_BYTES`] on a character boundary, ending in `…` when cut.
pub fn bounded(mut text: String) -> String {
    if text.len() <= MAX_RESULT_STRING_BYTES {
        return text;
    }
    const ELLIPSIS: &str = "…";
    let mut end = MAX_RESULT_STRING_BYTES - ELLIPSIS.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(ELLIPSIS);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_short_text_is_kept() {
        let short = "forwarded 3 of 3 records".to_owned();
        assert_eq!(bounded(short.clone()), short);
        let long = "é".repeat(MAX_RESULT_STRING_BYTES);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_RESULT_STRING_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        let exact = "a".repeat(MAX_RESULT_STRING_BYTES);
        assert_eq!(
            bounded(exact.clone()),
            exact,
            "a string at the limit is not cut"
        );
    }

    #[test]
    fn failures_map_to_the_code_their_class_says() {
        assert_eq!(
            TaskResult::failed(&"throttled".to_owned()).code,
            ResultCode::TemporaryFailure
        );
        assert_eq!(
            TaskResult::from_failure(false, "gone".into()).code,
            ResultCode::PermanentFailure
        );
    }
}
