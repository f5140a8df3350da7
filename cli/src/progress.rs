//! A one-line progress display on stderr for long `scan` and `verify` runs: redrawn in place with
//! `\r`, at most ten times a second, only when stderr is a terminal (never in a pipe, a file or
//! CI logs, and never with `--json`, whose output a program reads).
//!
//! Plain text rather than a progress-bar crate: one line and a counter need no dependency.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Redraws closer together than this are skipped (a fast scan would otherwise spend its time
/// writing to the terminal).
const REDRAW_EVERY: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 24;

/// Shared by the tasks that make progress; every method takes `&self`.
pub(crate) struct Progress {
    /// `None` when nothing is drawn: every call is then a no-op.
    state: Option<Mutex<State>>,
}

struct State {
    what: &'static str,
    done: u64,
    /// How many there are, once known (a listing still running does not know yet).
    total: Option<u64>,
    started: Instant,
    last_draw: Option<Instant>,
    /// Width of the last line drawn, to blank it out.
    drawn: usize,
    out: Box<dyn Write + Send>,
}

impl Progress {
    /// Draws on stderr when it is a terminal and `json` is off; `what` names the units
    /// (`files`, `objects`).
    pub(crate) fn on_stderr(what: &'static str, json: bool) -> Progress {
        let terminal =
            std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        if json || !terminal {
            return Progress::hidden();
        }
        Progress::to(what, Box::new(std::io::stderr()))
    }

    pub(crate) fn hidden() -> Progress {
        Progress { state: None }
    }

    fn to(what: &'static str, out: Box<dyn Write + Send>) -> Progress {
        Progress {
            state: Some(Mutex::new(State {
                what,
                done: 0,
                total: None,
                started: Instant::now(),
                last_draw: None,
                drawn: 0,
                out,
            })),
        }
    }

    pub(crate) fn set_total(&self, total: u64) {
        self.update(|s| s.total = Some(total));
    }

    pub(crate) fn add_total(&self, n: u64) {
        self.update(|s| s.total = Some(s.total.unwrap_or(0) + n));
    }

    pub(crate) fn inc(&self, n: u64) {
        self.update(|s| s.done += n);
    }

    /// Blanks the line, so that other output (a warning, an alert on a terminal stdout) starts
    /// on a clean line; the next update draws it again.
    pub(crate) fn clear(&self) {
        if let Some(state) = &self.state {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.blank();
        }
    }

    /// Blanks the line for good (the summary follows).
    pub(crate) fn finish(&self) {
        self.clear();
    }

    fn update(&self, change: impl FnOnce(&mut State)) {
        let Some(state) = &self.state else { return };
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut s);
        if s.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) {
            s.draw();
        }
    }
}

impl State {
    fn draw(&mut self) {
        let line = render(self.what, self.done, self.total, self.started.elapsed());
        let pad = self.drawn.saturating_sub(line.chars().count());
        // A terminal that went away is no reason to stop the work.
        let _ = write!(self.out, "\r{line}{}", " ".repeat(pad));
        let _ = self.out.flush();
        self.drawn = line.chars().count();
        self.last_draw = Some(Instant::now());
    }

    fn blank(&mut self) {
        if self.drawn > 0 {
            let _ = write!(self.out, "\r{}\r", " ".repeat(self.drawn));
            let _ = self.out.flush();
            self.drawn = 0;
            self.last_draw = None;
        }
    }
}

/// The line: `[=======>        ] 120/500 files, 24%, 3.1/s` with a total,
/// `120 files, 3.1/s` without.
fn render(what: &str, done: u64, total: Option<u64>, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        format!(", {:.1}/s", done as f64 / secs)
    } else {
        String::new()
    };
    match total {
        Some(total) if total > 0 => {
            let shown = done.min(total);
            let filled = (shown as usize * BAR_WIDTH) / total as usize;
            let bar: String = (0..BAR_WIDTH)
                .map(|i| match i.cmp(&filled) {
                    std::cmp::Ordering::Less => '=',
                    std::cmp::Ordering::Equal => '>',
                    std::cmp::Ordering::Greater => ' ',
                })
                .collect();
            format!(
                "[{bar}] {done}/{total} {what}, {}%{rate}",
                shown * 100 / total
            )
        }
        _ => format!("{done} {what}{rate}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_line_shows_the_share_done_and_without_a_total_the_count() {
        let line = render("files", 120, Some(480), Duration::from_secs(10));
        assert_eq!(
            line,
            "[======>                 ] 120/480 files, 25%, 12.0/s"
        );
        assert_eq!(
            render("objects", 7, None, Duration::from_secs(2)),
            "7 objects, 3.5/s"
        );
        let over = render("files", 9, Some(4), Duration::ZERO);
        assert!(
            over.starts_with("[========================] 9/4 files, 100%"),
            "{over}"
        );
    }

    #[test]
    fn hidden_progress_writes_nothing_and_a_visible_one_redraws_in_place() {
        // Tests run with stderr captured or piped: never a terminal, so nothing is drawn.
        let piped = Progress::on_stderr("files", false);
        assert!(
            piped.state.is_none(),
            "no progress when stderr is not a terminal"
        );
        assert!(Progress::on_stderr("files", true).state.is_none());

        let out = Captured::default();
        let shown = Progress::to("files", Box::new(out.clone()));
        shown.set_total(2);
        shown.inc(1);
        shown.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.starts_with("\r[>"), "{text:?}");
        assert!(
            text.ends_with('\r'),
            "the line is blanked at the end: {text:?}"
        );
        assert!(!text.contains('\n'), "never a new line: {text:?}");
    }
}
