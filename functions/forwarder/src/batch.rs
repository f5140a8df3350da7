//! PutLogEvents batching: every limit of the API, enforced before the call.
//!
//! Limits (CloudWatch Logs API reference, PutLogEvents): at most 10,000 events and 1,048,576
//! bytes per call, where an event costs its UTF-8 message bytes plus 26; events in one call in
//! chronological order and spanning at most 24 hours; events older than 14 days or more than
//! 2 hours in the future are refused; one event at most 1,048,576 bytes including the 26.
//!
//! Batches are formed in file order and sorted before they are sent, so memory is bounded by one
//! batch (≈1 MiB) rather than the file. Since sequence tokens were retired, calls need not be
//! ordered relative to each other.

pub const MAX_BATCH_EVENTS: usize = 10_000;
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD_BYTES: usize = 26;
pub const MAX_EVENT_BYTES: usize = 1_048_576 - EVENT_OVERHEAD_BYTES;
pub const MAX_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
pub const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
pub const MAX_FUTURE_MS: i64 = 2 * 3600 * 1000;

/// One log event ready for PutLogEvents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub timestamp_ms: i64,
    pub message: String,
}

/// Why an event is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    TooOld,
    TooNew,
    TooLarge,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooOld => "older than 14 days",
            RejectReason::TooNew => "more than 2 hours in the future",
            RejectReason::TooLarge => "larger than the 1 MiB event maximum",
        }
    }
}

/// Checks an event against the per-event limits, relative to `now_ms`.
pub fn check_event(
    timestamp_ms: i64,
    message_bytes: usize,
    now_ms: i64,
) -> Result<(), RejectReason> {
    if message_bytes > MAX_EVENT_BYTES {
        Err(RejectReason::TooLarge)
    } else if timestamp_ms < now_ms - MAX_AGE_MS {
        Err(RejectReason::TooOld)
    } else if timestamp_ms > now_ms + MAX_FUTURE_MS {
        Err(RejectReason::TooNew)
    } else {
        Ok(())
    }
}

/// Accumulates accepted events and cuts batches at the API's limits.
#[derive(Debug, Default)]
pub struct Batcher {
    events: Vec<LogEvent>,
    bytes: usize,
    min_ts: i64,
    max_ts: i64,
}

impl Batcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an event (already checked with [`check_event`]); returns a full batch when adding
    /// it would have broken a limit (the event then starts the next batch).
    pub fn push(&mut self, event: LogEvent) -> Option<Vec<LogEvent>> {
        let cost = event.message.len() + EVENT_OVERHEAD_BYTES;
        let ts = event.timestamp_ms;
        let full = !self.events.is_empty()
            && (self.events.len() + 1 > MAX_BATCH_EVENTS
                || self.bytes + cost > MAX_BATCH_BYTES
                || ts.max(self.max_ts) - ts.min(self.min_ts) > MAX_BATCH_SPAN_MS);
        let out = if full { self.take() } else { None };
        if self.events.is_empty() {
            self.min_ts = ts;
            self.max_ts = ts;
        } else {
            self.min_ts = self.min_ts.min(ts);
            self.max_ts = self.max_ts.max(ts);
        }
        self.bytes += cost;
        self.events.push(event);
        out
    }

    /// The pending events as a batch sorted by time (stable: file order among equal times).
    pub fn take(&mut self) -> Option<Vec<LogEvent>> {
        if self.events.is_empty() {
            return None;
        }
        let mut batch = std::mem::take(&mut self.events);
        self.bytes = 0;
        batch.sort_by_key(|e| e.timestamp_ms);
        Some(batch)
    }
}

/// Events of a batch the service refused, from `rejectedLogEventsInfo` (indices into the batch).
pub fn rejected_by_service(
    batch_len: usize,
    too_new_start: Option<i32>,
    too_old_end: Option<i32>,
    expired_end: Option<i32>,
) -> usize {
    let clamp = |i: i32| (i.max(0) as usize).min(batch_len);
    let old = too_old_end
        .map(clamp)
        .unwrap_or(0)
        .max(expired_end.map(clamp).unwrap_or(0));
    let new = too_new_start.map(|i| batch_len - clamp(i)).unwrap_or(0);
    (old + new).min(batch_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, len: usize) -> LogEvent {
        LogEvent {
            timestamp_ms: ts,
            message: "x".repeat(len),
        }
    }

    #[test]
    fn cuts_at_event_count() {
        let mut b = Batcher::new();
        let mut batches = Vec::new();
        for i in 0..25_000 {
            if let Some(full) = b.push(ev(i, 1)) {
                batches.push(full);
            }
        }
        batches.extend(b.take());
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10_000, 10_000, 5_000]
        );
    }

    #[test]
    fn cuts_at_byte_size_counting_overhead() {
        let mut b = Batcher::new();
        let mut batches = Vec::new();
        // (1000 + 26) * 1022 = 1,048,572 fits; one more does not.
        for i in 0..1023 {
            if let Some(full) = b.push(ev(i, 1000)) {
                batches.push(full);
            }
        }
        batches.extend(b.take());
        assert_eq!(batches[0].len(), 1022);
        assert_eq!(batches[1].len(), 1);
        for batch in &batches {
            let bytes: usize = batch.iter().map(|e| e.message.len() + 26).sum();
            assert!(bytes <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn a_maximal_event_travels_alone() {
        let mut b = Batcher::new();
        assert!(b.push(ev(1, 10)).is_none());
        let first = b
            .push(ev(2, MAX_EVENT_BYTES))
            .expect("the big event forces a cut");
        assert_eq!(first.len(), 1);
        let second = b.take().unwrap();
        assert_eq!(second[0].message.len() + 26, MAX_BATCH_BYTES);
    }

    #[test]
    fn batches_are_sorted_and_span_at_most_24_hours() {
        let h = 3600 * 1000;
        let mut b = Batcher::new();
        let mut batches = Vec::new();
        for ts in [5 * h, h, 3 * h, 26 * h, 2 * h, 30 * h] {
            if let Some(full) = b.push(ev(ts, 5)) {
                batches.push(full);
            }
        }
        batches.extend(b.take());
        for batch in &batches {
            assert!(
                batch
                    .windows(2)
                    .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms)
            );
            let span = batch.last().unwrap().timestamp_ms - batch[0].timestamp_ms;
            assert!(span <= MAX_BATCH_SPAN_MS, "span {span}");
        }
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 6);
    }

    #[test]
    fn per_event_limits() {
        let now = 100 * 24 * 3600 * 1000;
        assert_eq!(check_event(now, 10, now), Ok(()));
        assert_eq!(
            check_event(now - MAX_AGE_MS - 1, 10, now),
            Err(RejectReason::TooOld)
        );
        assert_eq!(
            check_event(now + MAX_FUTURE_MS + 1, 10, now),
            Err(RejectReason::TooNew)
        );
        assert_eq!(
            check_event(now, MAX_EVENT_BYTES + 1, now),
            Err(RejectReason::TooLarge)
        );
        assert_eq!(check_event(now, MAX_EVENT_BYTES, now), Ok(()));
    }

    #[test]
    fn service_rejections_are_counted_once() {
        assert_eq!(rejected_by_service(10, None, None, None), 0);
        assert_eq!(rejected_by_service(10, Some(8), Some(2), None), 4);
        assert_eq!(rejected_by_service(10, None, Some(2), Some(3)), 3);
        assert_eq!(rejected_by_service(10, Some(0), Some(10), None), 10);
    }
}
