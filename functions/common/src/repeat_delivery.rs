//! The metric every function writes when the state table shows a file version was already
//! processed (a repeated delivery): one shape, so one dashboard widget sums it over functions.

use trailwatch_shared::metrics::MetricLine;

const METRIC_NAMESPACE: &str = "trailwatch";

/// Counts one repeated delivery of `uri` skipped by `function` (`FilesAlreadyProcessed`).
pub fn count_already_processed(function: &str, uri: &str) {
    MetricLine::new(METRIC_NAMESPACE)
        .dimension("Function", function)
        .count("FilesAlreadyProcessed", 1)
        .property("object", uri)
        .emit();
}
