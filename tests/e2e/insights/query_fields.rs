//! The fields a CloudWatch Logs Insights query reads, taken from its commands (`fields`,
//! `filter`, `stats`, `sort`, `display`, `dedup`, `limit`, and a dashboard widget's `SOURCE`).
//!
//! A field is an identifier that is not a keyword, not a function name (followed by `(`), not a
//! system field (`@timestamp`) and not an alias the query defines with `as`. Strings, regexes
//! (`like /…/`), lists and numbers are values. A command this reader does not know (`parse`
//! makes fields out of text) is an error rather than an empty answer, so a check built on it
//! cannot pass by reading nothing.

use std::collections::BTreeSet;

use anyhow::{Result, bail};

/// What a query reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct QueryFields {
    /// Field names (`eventName`, `userIdentity.arn`), without system fields and aliases.
    pub(crate) fields: BTreeSet<String>,
    /// Log groups named by `SOURCE '…'` commands (dashboard log widgets).
    pub(crate) sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Regex,
    Number,
    Punct(char),
    /// `=`, `!=`, `<=`, `>=`, `=~`, `<`, `>`
    Op(String),
}

const KEYWORDS: &[&str] = &["and", "or", "not", "in", "like", "as", "by", "asc", "desc"];
const COMMANDS: &[&str] = &[
    "fields", "filter", "stats", "sort", "limit", "display", "dedup", "source",
];

/// The fields and sources of `query`, or why it cannot be read.
pub(crate) fn query_fields(query: &str) -> Result<QueryFields> {
    let tokens = tokenize(query)?;
    let mut out = QueryFields::default();
    let mut aliases = BTreeSet::new();
    let mut references = BTreeSet::new();
    for command in tokens.split(|t| *t == Token::Punct('|')) {
        let Some(Token::Ident(name)) = command.first() else {
            bail!("a query command must start with its name: {command:?}");
        };
        let name = name.to_ascii_lowercase();
        if !COMMANDS.contains(&name.as_str()) {
            bail!("command {name:?} is not read by this checker");
        }
        let args = &command[1..];
        if name == "source" {
            match args {
                [Token::Str(group)] => out.sources.push(group.clone()),
                other => bail!("SOURCE takes one quoted log group name, found {other:?}"),
            }
            continue;
        }
        for (i, token) in args.iter().enumerate() {
            let Token::Ident(ident) = token else { continue };
            let lower = ident.to_ascii_lowercase();
            let previous = i.checked_sub(1).map(|p| &args[p]);
            if previous == Some(&Token::Ident("as".into())) {
                aliases.insert(ident.clone());
            } else if KEYWORDS.contains(&lower.as_str())
                || ident.starts_with('@')
                || args.get(i + 1) == Some(&Token::Punct('('))
            {
                continue;
            } else {
                references.insert(ident.clone());
            }
        }
    }
    out.fields = references.difference(&aliases).cloned().collect();
    Ok(out)
}

fn tokenize(query: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' | '\'' => {
                let (text, next) = quoted(&chars, i, c)?;
                tokens.push(Token::Str(text));
                i = next;
            }
            '`' => {
                let (text, next) = quoted(&chars, i, '`')?;
                tokens.push(Token::Ident(text));
                i = next;
            }
            '/' if matches!(tokens.last(), Some(Token::Ident(k)) if k.eq_ignore_ascii_case("like"))
                || tokens.last() == Some(&Token::Op("=~".into())) =>
            {
                let (_, next) = quoted(&chars, i, '/')?;
                tokens.push(Token::Regex);
                i = next;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '@' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '.' | '@'))
                {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_digit() => {
                // numbers and durations (`5m` in bin(5m))
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                tokens.push(Token::Number);
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["!=", "<=", ">=", "=~"].contains(&two.as_str()) {
                    two
                } else if c == '!' {
                    bail!("a lone '!' at character {i}");
                } else {
                    c.to_string()
                };
                i += op.len();
                tokens.push(Token::Op(op));
            }
            '|' | '(' | ')' | '[' | ']' | ',' | '*' | '+' | '-' | '/' | '%' => {
                tokens.push(Token::Punct(c));
                i += 1;
            }
            other => bail!("unexpected character {other:?} at {i}"),
        }
    }
    Ok(tokens)
}

/// The text between the quote `q` at `start` and its closing quote (backslash escapes), and the
/// index after it.
fn quoted(chars: &[char], start: usize, q: char) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            c if c == q => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    bail!("unclosed {q} starting at character {start}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_clause_contributes_its_fields_and_nothing_else() {
        let q = r#"# who was refused
            fields @timestamp, eventName, `userIdentity.arn`
            | filter errorCode like /AccessDenied|Unauthorized/ and eventSource in ["iam.amazonaws.com", "s3.amazonaws.com"]
                and not ispresent(additionalEventData.MFAUsed) and awsRegion != 'us-east-1'
            | stats count(*) as denied, latest(sourceIPAddress) as ip by userIdentity.type, bin(5m)
            | sort denied desc
            | limit 100"#;
        let got = query_fields(q).unwrap();
        assert_eq!(
            got.fields,
            set(&[
                "additionalEventData.MFAUsed",
                "awsRegion",
                "errorCode",
                "eventName",
                "eventSource",
                "sourceIPAddress",
                "userIdentity.arn",
                "userIdentity.type",
            ])
        );
        assert!(got.sources.is_empty());
    }

    #[test]
    fn a_dashboard_query_names_its_log_groups() {
        let got = query_fields(
            "SOURCE '/a/b' | SOURCE \"/c\" | filter ispresent(FilesFailed) | fields object",
        )
        .unwrap();
        assert_eq!(got.sources, ["/a/b", "/c"]);
        assert_eq!(got.fields, set(&["FilesFailed", "object"]));
    }

    #[test]
    fn an_unknown_command_or_broken_query_is_an_error_not_an_empty_answer() {
        assert!(query_fields("parse @message 'user=*' as user | fields user").is_err());
        assert!(query_fields("filter eventName = \"StopLogging").is_err());
        assert!(query_fields("| filter x = 1").is_err());
    }
}
