//! Resumable structural scanner for one JSON value: finds where an object, array or string ends
//! while the bytes arrive piecewise, and notes where the value's own top-level `eventTime` key is.
//!
//! What it checks: brackets balance and match in kind, strings are closed, and bytes outside
//! strings are ones JSON allows there (whitespace, punctuation, digits, the letters of
//! `true`/`false`/`null` and exponents). It does not check the grammar between tokens (comma and
//! colon placement, number syntax): doing so would cost a full parser's time on the hot path, and a
//! consumer that interprets a record parses it anyway.

use memchr::memchr2;

const OTHER: u8 = 0;
const QUOTE: u8 = 1;
const OPEN_OBJECT: u8 = 2;
const OPEN_ARRAY: u8 = 3;
const CLOSE_OBJECT: u8 = 4;
const CLOSE_ARRAY: u8 = 5;
const INVALID: u8 = 6;

/// Class of each byte outside strings.
static CLASS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let allowed = b" \t\r\n,:-+.0123456789eEtrufalsn";
    let mut i = 0;
    while i < allowed.len() {
        table[allowed[i] as usize] = OTHER;
        i += 1;
    }
    table[b'"' as usize] = QUOTE;
    table[b'{' as usize] = OPEN_OBJECT;
    table[b'[' as usize] = OPEN_ARRAY;
    table[b'}' as usize] = CLOSE_OBJECT;
    table[b']' as usize] = CLOSE_ARRAY;
    table
};

/// Result of feeding the scanner the bytes available so far.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The value ends just before this buffer position.
    Complete(usize),
    /// More input is needed; bytes before this position are fully scanned.
    NeedMore(usize),
}

/// A structural fault at a buffer position.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fault {
    pub position: usize,
    pub detail: &'static str,
}

/// Scanner state carried across buffer refills. Positions it remembers are relative to the start
/// of the value, so the caller may move the value within its buffer between calls.
#[derive(Default)]
pub(super) struct Scanner {
    /// Open brackets, innermost last.
    stack: Vec<u8>,
    in_string: bool,
    /// Start (relative) of the current string's content, and whether it contained an escape.
    string_start: usize,
    string_escaped: bool,
    /// Whether to collect [`Self::event_time_keys`].
    track_keys: bool,
    /// Relative spans (quotes included) of strings directly inside the outermost object whose
    /// content is (or may be, when escaped) `eventTime`: candidates for its top-level key.
    pub event_time_keys: Vec<(usize, usize)>,
}

impl Scanner {
    /// Starts on a value whose first byte (`{`, `[` or `"`) was already consumed; `track_keys`
    /// asks for `eventTime` key candidates.
    pub fn start(&mut self, opener: u8, track_keys: bool) {
        self.track_keys = track_keys;
        self.stack.clear();
        self.event_time_keys.clear();
        self.in_string = false;
        self.string_escaped = false;
        match opener {
            b'"' => {
                self.in_string = true;
                self.string_start = 1;
            }
            _ => self.stack.push(opener),
        }
    }

    /// Scans `buf[pos..]` for the end of the value that started at `buf[origin]`.
    pub fn scan(&mut self, buf: &[u8], origin: usize, mut pos: usize) -> Result<Step, Fault> {
        loop {
            if self.in_string {
                let Some(found) = memchr2(b'"', b'\\', &buf[pos..]) else {
                    return Ok(Step::NeedMore(buf.len()));
                };
                let at = pos + found;
                if buf[at] == b'\\' {
                    if at + 1 >= buf.len() {
                        return Ok(Step::NeedMore(at));
                    }
                    self.string_escaped = true;
                    pos = at + 2;
                    continue;
                }
                self.in_string = false;
                pos = at + 1;
                match self.stack.len() {
                    0 => return Ok(Step::Complete(pos)),
                    1 if self.track_keys => self.note_key_candidate(buf, origin, at),
                    _ => {}
                }
            }
            loop {
                let Some(&byte) = buf.get(pos) else {
                    return Ok(Step::NeedMore(pos));
                };
                pos += 1;
                match CLASS[byte as usize] {
                    OTHER => {}
                    QUOTE => {
                        self.in_string = true;
                        self.string_escaped = false;
                        self.string_start = pos - origin;
                        break;
                    }
                    OPEN_OBJECT => self.stack.push(b'{'),
                    OPEN_ARRAY => self.stack.push(b'['),
                    class @ (CLOSE_OBJECT | CLOSE_ARRAY) => {
                        let want = if class == CLOSE_OBJECT { b'{' } else { b'[' };
                        if self.stack.pop() != Some(want) {
                            return Err(Fault {
                                position: pos - 1,
                                detail: "closing bracket does not match the open one",
                            });
                        }
                        if self.stack.is_empty() {
                            return Ok(Step::Complete(pos));
                        }
                    }
                    _ => {
                        return Err(Fault {
                            position: pos - 1,
                            detail: "byte not allowed outside a JSON string",
                        });
                    }
                }
            }
        }
    }

    /// A string closed at `close` directly inside the outermost container.
    #[inline]
    fn note_key_candidate(&mut self, buf: &[u8], origin: usize, close: usize) {
        let content = &buf[origin + self.string_start..close];
        if self.stack[0] == b'{' && (content == b"eventTime" || self.string_escaped) {
            self.event_time_keys
                .push((self.string_start - 1, close + 1 - origin));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(text: &[u8]) -> Result<Step, Fault> {
        let mut s = Scanner::default();
        s.start(text[0], true);
        s.scan(text, 0, 1)
    }

    #[test]
    fn finds_the_end_of_values() {
        assert_eq!(scan_all(br#"{"a":"}\"]"}xx"#), Ok(Step::Complete(12)));
        assert_eq!(
            scan_all(br#"{"a":[1,{"b":null}]} "#),
            Ok(Step::Complete(20))
        );
        assert_eq!(scan_all(br#""ab\\"c"#), Ok(Step::Complete(6)));
        assert_eq!(scan_all(br#"[true,false,-1.5e+3]"#), Ok(Step::Complete(20)));
    }

    #[test]
    fn asks_for_more_and_resumes() {
        let text = br#"{"a":"x\"y","b":[1,2]}"#;
        for split in 1..text.len() {
            let mut s = Scanner::default();
            s.start(b'{', true);
            let Step::NeedMore(at) = s.scan(&text[..split], 0, 1).unwrap() else {
                panic!("complete too early at split {split}");
            };
            assert!(at <= split);
            assert_eq!(
                s.scan(text, 0, at),
                Ok(Step::Complete(text.len())),
                "split {split}"
            );
        }
    }

    #[test]
    fn rejects_structural_faults() {
        assert_eq!(scan_all(br#"{"a":[}"#).unwrap_err().position, 6);
        assert_eq!(scan_all(br#"{"a":]"#).unwrap_err().position, 5);
        assert_eq!(scan_all(br#"{"a":hello}"#).unwrap_err().position, 5);
        assert_eq!(scan_all(b"{\"a\":\x01}").unwrap_err().position, 5);
    }

    #[test]
    fn notes_only_outermost_event_time_strings() {
        let text = br#"{"x":{"eventTime":1},"eventTime":"t","y":"eventTime"}"#;
        let mut s = Scanner::default();
        s.start(b'{', true);
        assert_eq!(s.scan(text, 0, 1), Ok(Step::Complete(text.len())));
        // the key at depth 1 and the value "eventTime"; the nested key is not a candidate
        assert_eq!(s.event_time_keys, vec![(21, 32), (41, 52)]);
    }
}
