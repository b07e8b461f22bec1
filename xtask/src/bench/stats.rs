//! Medians over runs, units, and the table of figures against budgets.

use super::*;

/// Median, minimum and maximum of a set of runs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) runs: usize,
}

impl Stats {
    /// Builds the statistics of a figure measured once.
    pub(super) fn single(value: f64) -> Self {
        Self {
            median: value,
            min: value,
            max: value,
            runs: 1,
        }
    }

    pub(super) fn of(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            bail!("no runs to summarize");
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Ok(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            runs: sorted.len(),
        })
    }
}

/// Unit a figure is printed in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Unit {
    /// Bytes, printed in KB of 1024 bytes.
    Kilobytes,
    /// Bytes, printed in MB of 1024 × 1024 bytes with a sign.
    Megabytes,
    Milliseconds,
    Seconds,
    StepsPerSecond,
}

impl Unit {
    pub(super) fn format(self, value: f64) -> String {
        match self {
            Self::Kilobytes => format!("{:.1} KB", value / KB),
            Self::Megabytes => format!("{:+.2} MB", value / MB),
            Self::Milliseconds if value < 10.0 => format!("{value:.2} ms"),
            Self::Milliseconds if value < 100.0 => format!("{value:.1} ms"),
            Self::Milliseconds => format!("{value:.0} ms"),
            Self::Seconds => format!("{value:.2} s"),
            Self::StepsPerSecond if value >= 1e6 => format!("{:.2} M steps/s", value / 1e6),
            Self::StepsPerSecond if value >= 1e4 => format!("{:.0} k steps/s", value / 1e3),
            Self::StepsPerSecond if value >= 1e3 => format!("{:.1} k steps/s", value / 1e3),
            Self::StepsPerSecond => format!("{value:.0} steps/s"),
        }
    }
}

/// The results table: one row per figure, grouped by numbered section.
#[derive(Default)]
pub(super) struct Table {
    pub(super) section: usize,
    pub(super) rows: Vec<[String; 6]>,
}

impl Table {
    /// Starts the next section. Rows added from now on carry its number.
    pub(super) fn section(&mut self, number: usize) {
        self.section = number;
    }

    /// Adds a measured figure. The budget, if any, is an upper bound on the median.
    pub(super) fn measured(
        &mut self,
        measure: impl Into<String>,
        stats: Stats,
        unit: Unit,
        budget: Option<f64>,
    ) {
        let range = if stats.runs == 1 {
            "one measurement".to_string()
        } else {
            format!("{} – {}", unit.format(stats.min), unit.format(stats.max))
        };
        let (budget, met) = match budget {
            None => ("–".to_string(), "–"),
            Some(bound) => {
                let met = if stats.median <= bound {
                    "yes"
                } else {
                    "**no**"
                };
                let sign_free = unit.format(bound).trim_start_matches('+').to_string();
                (format!("≤ {sign_free}"), met)
            }
        };
        self.rows.push([
            self.section.to_string(),
            measure.into(),
            unit.format(stats.median),
            range,
            budget,
            met.to_string(),
        ]);
    }

    /// Adds a line without a measurement, with a note in place of the figure.
    pub(super) fn note(&mut self, measure: impl Into<String>, text: impl Into<String>) {
        let dash = || "–".to_string();
        self.rows.push([
            self.section.to_string(),
            measure.into(),
            text.into(),
            dash(),
            dash(),
            dash(),
        ]);
    }

    pub(super) fn write(&self, out: &mut String) {
        out.push_str("| # | Measure | Median | Min – max | Budget | Met |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
}
