//! Blanking what is not code: comments, the contents of string and char literals, and items
//! under `#[cfg(test)]`, keeping every newline so that line numbers stay right.

/// Blanks comments and the contents of string and char literals (keeping the newlines, so
/// line numbers stay right): `.get_object()` in a doc comment or a message is not a call.
pub(super) fn strip_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out.push(b' ');
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        out.extend_from_slice(b"  ");
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        out.extend_from_slice(b"  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        blank(&mut out, b[i]);
                        i += 1;
                    }
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#'))
                && (i == 0 || !is_ident(b[i - 1])) =>
            {
                // Raw string r"..." / r#"..."#.
                let mut j = i + 1;
                while b.get(j) == Some(&b'#') {
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push(b[i]);
                    i += 1;
                    continue;
                }
                let hashes = j - i - 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                out.extend(std::iter::repeat_n(b' ', j + 1 - i));
                i = j + 1;
                while i < b.len() && !b[i..].starts_with(&close) {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
                i += close.len();
            }
            b'"' => {
                out.push(b' ');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    let skip = if b[i] == b'\\' { 2 } else { 1 };
                    for k in 0..skip {
                        if let Some(&c) = b.get(i + k) {
                            blank(&mut out, c);
                        }
                    }
                    i += skip;
                }
                out.push(b' ');
                i += 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\''), else a lifetime ('a).
                let len = if b.get(i + 1) == Some(&b'\\') {
                    b.get(i + 3..)
                        .and_then(|r| r.iter().position(|&c| c == b'\''))
                        .map(|p| p + 4)
                } else {
                    let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch) == Some(&b'\'')).then_some(ch + 2)
                };
                match len {
                    Some(n) => {
                        out.extend(std::iter::repeat_n(b' ', n));
                        i += n;
                    }
                    None => {
                        out.push(b'\'');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("only ASCII replaced ASCII")
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Blanks each item under `#[cfg(test)]` (a `mod tests { … }`, a helper fn, a `use`).
pub(super) fn strip_test_items(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(pos) = out[from..].find("#[cfg(test)]").map(|p| p + from) {
        let b = out.as_bytes();
        let mut i = pos;
        let mut depth = 0usize;
        let end = loop {
            match b.get(i) {
                None => break b.len(),
                Some(b'{') => depth += 1,
                Some(b'}') if depth <= 1 => break i + 1,
                Some(b'}') => depth -= 1,
                Some(b';') if depth == 0 => break i + 1,
                _ => {}
            }
            i += 1;
        };
        let blanked: String = out[pos..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(pos..end, &blanked);
        from = end;
    }
    out
}
