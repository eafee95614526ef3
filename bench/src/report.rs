//! Output: a table row and a JSON line per result, then the goals and their verdicts.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::Failure;

/// One goal of the benchmark issue, with what this run measured.
pub(crate) struct Goal {
    /// What is measured, in words.
    pub(crate) what: String,
    /// The target, in words.
    pub(crate) target: &'static str,
    /// The measured value, in words.
    pub(crate) measured: String,
    /// Whether the target was met.
    pub(crate) met: bool,
}

/// Collects and prints results.
pub(crate) struct Report {
    json_file: Option<PathBuf>,
    goals: Vec<Goal>,
}

impl Report {
    /// A report that also appends its JSON lines to `json_file`.
    pub(crate) fn new(json_file: Option<PathBuf>) -> Report {
        println!("{:<24} {:<11} result", "scenario", "profile");
        Report {
            json_file,
            goals: Vec::new(),
        }
    }

    /// Prints a table row (`text`) and the JSON line `fields` plus the scenario and profile.
    pub(crate) fn row(
        &mut self,
        scenario: &str,
        profile: &str,
        text: &str,
        mut fields: Value,
    ) -> Result<(), Failure> {
        println!("{scenario:<24} {profile:<11} {text}");
        if let Some(map) = fields.as_object_mut() {
            map.insert("scenario".into(), json!(slug(scenario)));
            if !profile.is_empty() {
                map.insert("profile".into(), json!(profile));
            }
        }
        let line = serde_json::to_string(&fields)?;
        println!("{line}");
        if let Some(path) = &self.json_file {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(file, "{line}")?;
        }
        Ok(())
    }

    /// Records a goal's verdict.
    pub(crate) fn goal(&mut self, goal: Goal) {
        self.goals.push(goal);
    }

    /// Prints the goals table.
    pub(crate) fn finish(&self) {
        println!();
        println!("{:<48} {:<14} {:<28} met", "goal", "target", "measured");
        for g in &self.goals {
            println!(
                "{:<48} {:<14} {:<28} {}",
                g.what,
                g.target,
                g.measured,
                if g.met { "yes" } else { "NO" }
            );
        }
    }
}

/// The JSON name of a table label: `"5 edit bytes, delta on"` → `"edit_bytes_delta_on"`.
fn slug(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .skip_while(|w| w.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join("_")
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_become_json_names() {
        assert_eq!(super::slug("5 edit bytes, delta on"), "edit_bytes_delta_on");
        assert_eq!(super::slug("0 raw SQLite ceiling"), "raw_sqlite_ceiling");
        assert_eq!(super::slug("6 peak RSS, push"), "peak_rss_push");
    }
}
