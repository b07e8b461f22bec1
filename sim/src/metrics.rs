//! Metrics that every engine reports in one shape, for the widgets' metrics
//! panel and for `cargo xtask replay --metrics`.
//!
//! Latency percentiles come from an HDR histogram (the `hdrhistogram` crate)
//! at microsecond resolution with three significant digits, so a reported
//! percentile is within 0.1% of the exact one.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant decimal digits the latency histograms keep.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
}

/// A histogram of latencies recorded in milliseconds and kept in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// Creates an empty, auto-resizing histogram.
    pub fn new() -> Self {
        // With a lowest value of 1 and 3 significant digits every check in
        // `Histogram::new` passes, so this cannot fail.
        let histogram = Histogram::new(SIGNIFICANT_DIGITS)
            .unwrap_or_else(|_| unreachable!("3 significant digits is within 0..=5"));
        Self(histogram)
    }

    /// Records one latency; negative and NaN values count as zero.
    pub fn record_ms(&mut self, latency_ms: f64) {
        let micros = (latency_ms.max(0.0) * 1000.0).round() as u64;
        // Recording fails only if resizing would need more than `usize::MAX`
        // entries; the value is then clamped to the largest trackable one.
        if self.0.record(micros).is_err() {
            self.0.saturating_record(micros);
        }
    }

    /// Adds every value of `other`.
    pub fn add(&mut self, other: &Self) {
        // Both histograms auto-resize, so adding cannot run out of range.
        let _ = self.0.add(&other.0);
    }

    /// Number of recorded values.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Returns whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns p50, p95 and p99, or `None` before the first value.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.0.is_empty() {
            return None;
        }
        let at = |quantile: f64| self.0.value_at_quantile(quantile) as f64 / 1000.0;
        Some(Percentiles {
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
        })
    }
}

/// One number in the metrics panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Stable name for tests and styles, in kebab case.
    pub key: &'static str,
    /// Label shown above the value.
    pub label: &'static str,
    /// The value, for comparisons.
    pub value: f64,
    /// The value as the panel shows it, with its unit.
    pub text: String,
}

impl Metric {
    /// Creates a metric shown as `text`.
    pub fn new(key: &'static str, label: &'static str, value: f64, text: String) -> Self {
        Self {
            key,
            label,
            value,
            text,
        }
    }

    /// Creates a whole-number metric.
    pub fn count(key: &'static str, label: &'static str, value: u64) -> Self {
        Self::new(key, label, value as f64, value.to_string())
    }

    /// Creates a metric in milliseconds, or a dash when there is no value yet.
    pub fn millis(key: &'static str, label: &'static str, value: Option<f64>) -> Self {
        match value {
            Some(ms) => Self::new(key, label, ms, format!("{ms:.0} ms")),
            None => Self::new(key, label, f64::NAN, "–".to_string()),
        }
    }
}

/// A value worth watching over time, drawn as a sparkline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Label of the sparkline, with its unit.
    pub label: &'static str,
    /// The current value.
    pub value: f64,
}

/// Everything an engine reports at one instant.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Snapshot {
    /// Simulated time of the snapshot, in milliseconds.
    pub at_ms: f64,
    /// Counters and gauges, in display order.
    pub metrics: Vec<Metric>,
    /// Latency percentiles, for engines whose topic has latency.
    pub latency: Option<Percentiles>,
    /// Values the widget samples over time for its sparklines.
    pub samples: Vec<Sample>,
}

impl Snapshot {
    /// Finds a metric by key.
    pub fn metric(&self, key: &str) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_uniform_latencies() {
        let mut histogram = LatencyHistogram::new();
        for ms in 1..=1000 {
            histogram.record_ms(f64::from(ms));
        }

        let p = histogram.percentiles().unwrap();

        assert!((p.p50_ms - 500.0).abs() <= 0.5, "{p:?}");
        assert!((p.p95_ms - 950.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() <= 1.0, "{p:?}");
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        assert_eq!(LatencyHistogram::new().percentiles(), None);
    }

    #[test]
    fn negative_and_nan_latencies_record_as_zero() {
        let mut histogram = LatencyHistogram::new();

        histogram.record_ms(-5.0);
        histogram.record_ms(f64::NAN);

        assert_eq!(histogram.len(), 2);
        assert_eq!(histogram.percentiles().unwrap().p99_ms, 0.0);
    }
}
