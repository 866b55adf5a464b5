//! What [`super::apply`] did: one [`Step`] per thing it tried, each done, skipped or
//! failed with a one-line message and its duration, plus captured lines for scripts.
//! The caller prints [`Report::lines`] (or the `Display` form) to the console and the
//! journal; nothing here prints. No message carries a password.

use std::fmt;
use std::time::Duration;

/// How one step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied (or already as asked).
    Done,
    /// Not applicable here (nothing asked, not installed, not this boot).
    Skipped,
    /// Tried and failed; the message says why.
    Failed,
}

impl Outcome {
    /// The word used in report lines.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
        }
    }
}

/// One step of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step was (`hostname`, `user alice`, `script first-boot.d/10-grow`).
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// One line: what was done, or why not.
    pub message: String,
    /// How long it took.
    pub duration: Duration,
    /// Extra lines (a script's first and last lines of output).
    pub details: Vec<String>,
}

/// Everything one [`super::apply`] call did, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The steps, in the order they ran.
    pub steps: Vec<Step>,
    /// The whole run.
    pub total: Duration,
}

impl Report {
    /// Adds a step.
    pub(crate) fn push(
        &mut self,
        name: impl Into<String>,
        outcome: Outcome,
        message: impl Into<String>,
        duration: Duration,
    ) -> &mut Step {
        self.steps.push(Step {
            name: name.into(),
            outcome,
            message: message.into(),
            duration,
            details: Vec::new(),
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    /// True when any step failed.
    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|step| step.outcome == Outcome::Failed)
    }

    /// The step named `name`, if it ran.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.name == name)
    }

    /// The report as lines for the console or the journal:
    /// `done    hostname: web-1 (0.002 s)`, details indented by `  | `, and a last line
    /// with the counts and the total time.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for step in &self.steps {
            lines.push(format!(
                "{:<7} {}: {} ({:.3} s)",
                step.outcome.word(),
                step.name,
                step.message,
                step.duration.as_secs_f64()
            ));
            lines.extend(step.details.iter().map(|detail| format!("  | {detail}")));
        }
        let count = |outcome| {
            self.steps
                .iter()
                .filter(|step| step.outcome == outcome)
                .count()
        };
        lines.push(format!(
            "imgbuild-first-boot: {} done, {} skipped, {} failed in {:.3} s",
            count(Outcome::Done),
            count(Outcome::Skipped),
            count(Outcome::Failed),
            self.total.as_secs_f64()
        ));
        lines
    }
}

impl fmt::Display for Report {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(formatter, "{line}")?;
        }
        Ok(())
    }
}
