//! ASCII folding for SNS subjects.
//!
//! SNS rejects a `Subject` that is not printable ASCII (and e-mail clients mangle one that has
//! line breaks), while rule titles come from configuration and may carry any Unicode. We fold the
//! characters a rule author is likely to type (Latin accents, typographic quotes and dashes) and
//! drop everything else; no transliteration crate is worth a dependency for a subject line.

/// `text` as printable ASCII on one line: known characters are transliterated, whitespace and
/// control characters (including line breaks) become single spaces, anything else is dropped.
pub fn fold_to_ascii_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        let folded: &str = if c.is_whitespace() || c.is_control() {
            pending_space = true;
            continue;
        } else if c.is_ascii() {
            // Printable ASCII (controls were handled above).
            out_push(&mut out, &mut pending_space, c.encode_utf8(&mut [0u8; 4]));
            continue;
        } else {
            transliterate(c)
        };
        if !folded.is_empty() {
            out_push(&mut out, &mut pending_space, folded);
        }
    }
    out
}

fn out_push(out: &mut String, pending_space: &mut bool, s: &str) {
    if *pending_space && !out.is_empty() {
        out.push(' ');
    }
    *pending_space = false;
    out.push_str(s);
}

/// The ASCII spelling of one non-ASCII character, or `""` to drop it.
fn transliterate(c: char) -> &'static str {
    match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Č' => "C",
        'ç' | 'ć' | 'č' => "c",
        'Ď' | 'Đ' | 'Ð' => "D",
        'ď' | 'đ' | 'ð' => "d",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'Ğ' => "G",
        'ğ' => "g",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'İ' => "I",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'Ł' => "L",
        'ł' => "l",
        'Ñ' | 'Ń' | 'Ň' => "N",
        'ñ' | 'ń' | 'ň' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => "O",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ř' => "R",
        'ř' => "r",
        'Ś' | 'Š' | 'Ş' => "S",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'Ť' | 'Ţ' => "T",
        'ť' | 'ţ' => "t",
        'Þ' => "TH",
        'þ' => "th",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' => "U",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'Ý' | 'Ÿ' => "Y",
        'ý' | 'ÿ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' | '«' | '»' => "\"",
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => "-",
        '\u{2026}' => "...",
        '\u{2022}' | '·' => "*",
        '→' => "->",
        '←' => "<-",
        '×' => "x",
        '©' => "(c)",
        '®' => "(R)",
        '™' => "(TM)",
        '€' => "EUR",
        '£' => "GBP",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_printable_ascii_verbatim() {
        let s = "[HIGH] CloudWatch.4 IAM policy changes: 3 events (x=\"y\")";
        assert_eq!(fold_to_ascii_line(s), s);
    }

    #[test]
    fn transliterates_latin_letters_and_typography() {
        assert_eq!(
            fold_to_ascii_line("Überwachung – Änderung “Root” … ß"),
            "Uberwachung - Anderung \"Root\" ... ss"
        );
        assert_eq!(
            fold_to_ascii_line("Connexion sans MFA à la console"),
            "Connexion sans MFA a la console"
        );
    }

    #[test]
    fn drops_scripts_without_ascii_spelling_and_emoji() {
        let out = fold_to_ascii_line("ルート 🚨 root usage");
        assert_eq!(out, "root usage");
        assert!(out.is_ascii());
    }

    #[test]
    fn line_breaks_tabs_and_controls_become_single_spaces() {
        assert_eq!(
            fold_to_ascii_line("  a\r\nb\t\tc\u{2028}d\u{0007}e  "),
            "a b c d e"
        );
    }

    #[test]
    fn empty_and_all_dropped_inputs_give_empty_output() {
        assert_eq!(fold_to_ascii_line(""), "");
        assert_eq!(fold_to_ascii_line("日本語"), "");
    }
}
