//! End-to-end test harness (in progress).
