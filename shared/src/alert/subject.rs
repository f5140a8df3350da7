//! The SNS `Subject`: what an engineer reads in the inbox list before opening the alert.
//!
//! SNS requires printable ASCII, no line breaks, fewer than 100 characters, starting with a
//! letter, digit or punctuation. A rule alert's subject always keeps severity, rule label,
//! count, account and region; the title is what gets shortened.

use super::ascii::fold_to_ascii_line;

/// The longest subject SNS accepts ("must be less than 100 characters").
pub const MAX_SUBJECT_CHARS: usize = 99;

/// Any text as a subject SNS accepts: folded to printable ASCII on one line
/// ([`fold_to_ascii_line`]), then cut to [`MAX_SUBJECT_CHARS`]. For subjects with nothing to
/// shorten more gracefully than at the end (digest verdicts); rule and Insights subjects fold
/// their parts and shorten the title instead ([`fit_subject`]).
pub fn clean_subject(text: &str) -> String {
    let mut subject = fold_to_ascii_line(text);
    // ASCII now, so bytes are characters and any cut is on a character boundary.
    subject.truncate(MAX_SUBJECT_CHARS);
    subject
}

/// `[HIGH] CloudWatch.4 IAM policy changes: 3 events in 123456789012 eu-west-1`.
pub fn alert_subject(
    severity: &str,
    rule_id: &str,
    title: &str,
    what: &str,
    account: &str,
    region: &str,
) -> String {
    let severity = fold_to_ascii_line(severity).to_ascii_uppercase();
    let label = fold_to_ascii_line(rule_label(rule_id));
    let head = format!("[{severity}] {label}");
    let tail = format!(
        ": {} in {} {}",
        fold_to_ascii_line(what),
        fold_to_ascii_line(account),
        fold_to_ascii_line(region)
    );
    let mut title = short_title(title);
    if title.eq_ignore_ascii_case(&label) {
        // A custom rule without a title (the title defaults to the id): say it once.
        title.clear();
    }
    fit_subject(&head, &title, &tail)
}

/// Assembles `head title tail`, shortening the title (at a word boundary, with `...`) so that
/// the whole stays within [`MAX_SUBJECT_CHARS`]; pure ASCII in, so bytes are characters.
pub fn fit_subject(head: &str, title: &str, tail: &str) -> String {
    let fixed = head.len() + tail.len();
    let room = MAX_SUBJECT_CHARS.saturating_sub(fixed + 1); // +1: the space before the title
    let title = if title.len() <= room {
        title.to_owned()
    } else if room >= 12 {
        shorten_at_word(title, room)
    } else {
        String::new()
    };
    let mut subject = if title.is_empty() {
        format!("{head}{tail}")
    } else {
        format!("{head} {title}{tail}")
    };
    if subject.len() > MAX_SUBJECT_CHARS {
        // Absurdly long ids or regions: a hard cut still gives a valid subject.
        subject.truncate(MAX_SUBJECT_CHARS);
    }
    subject
}

/// A rule id as people say it: `SecurityHub:CloudWatch.4` -> `CloudWatch.4`; other ids as-is.
pub fn rule_label(rule_id: &str) -> &str {
    rule_id.strip_prefix("SecurityHub:").unwrap_or(rule_id)
}

/// The part of a rule title that says what happened, folded to ASCII.
///
/// Built-in titles are control descriptions ("[CloudWatch.4] Ensure a log metric filter and
/// alarm exist for IAM policy changes"); only "IAM policy changes" is news in a subject.
/// Custom titles without that boilerplate pass through unchanged (first letter capitalised).
pub fn short_title(title: &str) -> String {
    let full = fold_to_ascii_line(title);
    let mut t = full.as_str().trim();
    // "[CloudWatch.4] ..." control prefix.
    if t.starts_with('[')
        && let Some(end) = t.find(']')
    {
        t = t[end + 1..].trim_start();
    }
    // "4.1 ..." CIS section number.
    let number_len = t
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    if number_len > 0 && t[number_len..].starts_with(' ') && t.as_bytes()[0].is_ascii_digit() {
        t = t[number_len..].trim_start();
    }
    // Trailing "(alternative pattern given by CIS ...)".
    // (Only that note: a custom title's own parenthesis is meaning, not boilerplate.)
    if t.ends_with(')')
        && let Some(open) = t.rfind(" (")
        && t[open + 2..]
            .to_ascii_lowercase()
            .starts_with("alternative")
    {
        t = t[..open].trim_end();
    }
    for prefix in [
        "ensure a log metric filter and alarm exists for ",
        "ensure a log metric filter and alarm exist for ",
        "a log metric filter and alarm should exist for ",
        "ensure ",
    ] {
        if t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix) {
            t = &t[prefix.len()..];
            break;
        }
    }
    for suffix in [" are monitored", " is monitored"] {
        if let Some(stripped) = t.strip_suffix(suffix) {
            t = stripped;
            break;
        }
    }
    let t = t.trim();
    if t.is_empty() {
        return full;
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.chars();
    if let Some(first) = chars.next() {
        out.push(first.to_ascii_uppercase());
        out.push_str(chars.as_str());
    }
    out
}

/// `text` cut to at most `max` bytes at a word boundary, ending with `...`.
fn shorten_at_word(text: &str, max: usize) -> String {
    let keep = max.saturating_sub(3);
    let cut = &text[..keep.min(text.len())];
    let cut = match cut.rfind(' ') {
        Some(space) if space >= keep / 2 => &cut[..space],
        _ => cut,
    };
    format!("{}...", cut.trim_end())
}

/// "1 event" / "3 events".
pub fn events_phrase(count: u64) -> String {
    if count == 1 {
        "1 event".to_owned()
    } else {
        format!("{count} events")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_valid_subject(s: &str) {
        assert!(s.len() <= MAX_SUBJECT_CHARS, "{} chars: {s}", s.len());
        assert!(
            s.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "not printable ASCII: {s:?}"
        );
        assert!(s.starts_with(|c: char| c.is_ascii_alphanumeric() || c.is_ascii_punctuation()));
    }

    #[test]
    fn clean_subject_folds_breaks_and_caps() {
        assert_eq!(clean_subject("a\r\nb  é"), "a b e");
        let s = clean_subject(&format!("[HIGH] {}", "ü".repeat(300)));
        assert_valid_subject(&s);
        assert_eq!(s.len(), MAX_SUBJECT_CHARS);
    }

    #[test]
    fn security_hub_rule_gives_the_documented_example() {
        let s = alert_subject(
            "HIGH",
            "SecurityHub:CloudWatch.4",
            "[CloudWatch.4] Ensure a log metric filter and alarm exist for IAM policy changes",
            &events_phrase(3),
            "123456789012",
            "eu-west-1",
        );
        assert_eq!(
            s,
            "[HIGH] CloudWatch.4 IAM policy changes: 3 events in 123456789012 eu-west-1"
        );
        assert_valid_subject(&s);
    }

    #[test]
    fn builtin_titles_are_shortened_to_what_happened() {
        assert_eq!(
            short_title(
                "[CloudWatch.1] A log metric filter and alarm should exist for usage of the \"root\" user"
            ),
            "Usage of the \"root\" user"
        );
        assert_eq!(
            short_title("4.1 Ensure unauthorized API calls are monitored"),
            "Unauthorized API calls"
        );
        assert_eq!(
            short_title(
                "3.1 Ensure a log metric filter and alarm exist for unauthorized API calls"
            ),
            "Unauthorized API calls"
        );
        assert_eq!(
            short_title(
                "4.2 Ensure management console sign-in without MFA is monitored (alternative pattern given by CIS to reduce false positives when SSO is used)"
            ),
            "Management console sign-in without MFA"
        );
        assert_eq!(
            short_title(
                "4.15 Ensure a log metric filter and alarm exists for AWS Organizations changes"
            ),
            "AWS Organizations changes"
        );
    }

    #[test]
    fn custom_titles_pass_through() {
        assert_eq!(
            short_title("GuardDuty detector deleted"),
            "GuardDuty detector deleted"
        );
        assert_eq!(short_title("[x]"), "[x]");
        assert_eq!(
            short_title("CloudTrail stopped (twice or more)"),
            "CloudTrail stopped (twice or more)"
        );
        assert_eq!(short_title(""), "");
    }

    #[test]
    fn a_title_equal_to_the_id_is_not_repeated() {
        let s = alert_subject(
            "LOW",
            "burst",
            "burst",
            &events_phrase(3),
            "123456789012",
            "eu-west-1",
        );
        assert_eq!(s, "[LOW] burst: 3 events in 123456789012 eu-west-1");
    }

    #[test]
    fn singular_event_phrase() {
        assert_eq!(events_phrase(1), "1 event");
        assert_eq!(events_phrase(0), "0 events");
        assert_eq!(events_phrase(12), "12 events");
    }

    #[test]
    fn long_titles_are_cut_at_a_word_and_keep_count_account_region() {
        let title = "Ensure a log metric filter and alarm exist for changes to Network Access Control Lists (NACL) and everything else that might possibly matter to someone";
        let s = alert_subject(
            "CRITICAL",
            "SecurityHub:CloudWatch.11",
            title,
            &events_phrase(1234567),
            "123456789012",
            "ap-southeast-2",
        );
        assert_valid_subject(&s);
        assert!(
            s.starts_with("[CRITICAL] CloudWatch.11 Changes to Network"),
            "{s}"
        );
        assert!(
            s.ends_with("...: 1234567 events in 123456789012 ap-southeast-2"),
            "{s}"
        );
    }

    #[test]
    fn non_ascii_titles_and_line_breaks_never_reach_the_subject() {
        let s = alert_subject(
            "HIGH",
            "custom:ルート",
            "Connexion à la console\r\nsans MFA — “root” 🚨",
            &events_phrase(2),
            "123456789012",
            "eu-west-3",
        );
        assert_valid_subject(&s);
        assert_eq!(
            s,
            "[HIGH] custom: Connexion a la console sans MFA - \"root\": 2 events in 123456789012 eu-west-3"
        );
    }

    #[test]
    fn every_length_of_title_and_id_gives_a_valid_subject() {
        for title_len in [0usize, 1, 40, 60, 80, 99, 150, 400] {
            for id_len in [1usize, 10, 50, 90, 120] {
                let title: String = "wörd "
                    .repeat(title_len / 5 + 1)
                    .chars()
                    .take(title_len)
                    .collect();
                let id = "R".repeat(id_len);
                let s = alert_subject(
                    "MEDIUM",
                    &id,
                    &title,
                    &events_phrase(10),
                    "123456789012",
                    "us-east-1",
                );
                assert_valid_subject(&s);
                assert!(s.starts_with("[MEDIUM] R"));
            }
        }
    }
}
