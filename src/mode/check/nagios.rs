//! The Monitoring Plugins output format: `LINEWATCH <STATE> - <summary> |
//! <perfdata>`, long output lines, exit codes. Pure formatting: it judges
//! nothing.

use crate::status::Health;
use crate::time::Duration;

use super::args::USAGE;
use super::error::CheckError;

/// The service name at the start of the output line.
pub const SERVICE: &str = "LINEWATCH";

/// One performance data item:
/// `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Perf {
    /// Label (quoted on output).
    pub label: String,
    /// Value; `None` prints `U` (could not be determined).
    pub value: Option<f64>,
    /// Unit: `""`, `"s"` or `"c"`.
    pub uom: &'static str,
    /// Warning range, as given.
    pub warn: Option<String>,
    /// Critical range, as given.
    pub crit: Option<String>,
    /// Minimum.
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// A number without exponent, at most three decimals, no trailing zeros.
pub(super) fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".to_string(),
        s => s.to_string(),
    }
}

impl Perf {
    /// The item in the guidelines' syntax; trailing empty fields are dropped.
    pub fn render(&self) -> String {
        let label = self.label.replace('=', "_").replace('\'', "''");
        let value = match self.value {
            Some(v) => format!("{}{}", num(v), self.uom),
            None => "U".to_string(),
        };
        let mut fields = vec![
            value,
            self.warn.clone().unwrap_or_default(),
            self.crit.clone().unwrap_or_default(),
            self.min.map(num).unwrap_or_default(),
            self.max.map(num).unwrap_or_default(),
        ];
        while fields.len() > 1 && fields.last().is_some_and(|f| f.is_empty()) {
            fields.pop();
        }
        format!("'{label}'={}", fields.join(";"))
    }
}

/// What the plugin prints and how it exits.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The state.
    pub state: Health,
    /// The text after `LINEWATCH STATE - `.
    pub summary: String,
    /// Performance data for the first line.
    pub perfdata: Vec<Perf>,
    /// Long output lines.
    pub long: Vec<String>,
}

/// `|` separates perfdata and a newline ends the first line: neither may
/// appear in the text.
fn clean(s: &str) -> String {
    s.replace('|', "/").replace(['\n', '\r'], " ")
}

impl Outcome {
    /// An UNKNOWN outcome with a message.
    pub fn unknown(message: impl Into<String>) -> Outcome {
        Outcome {
            state: Health::Unknown,
            summary: message.into(),
            perfdata: Vec::new(),
            long: Vec::new(),
        }
    }

    /// The plugin output: one line, then the long output; newline-terminated.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{SERVICE} {} - {}",
            self.state.upper(),
            clean(&self.summary)
        );
        if !self.perfdata.is_empty() {
            s.push_str(" | ");
            let items: Vec<String> = self.perfdata.iter().map(Perf::render).collect();
            s.push_str(&items.join(" "));
        }
        s.push('\n');
        for l in &self.long {
            s.push_str(&clean(l));
            s.push('\n');
        }
        s
    }
}

/// The exit code of a check's result: the state's, and 3 for every error.
pub fn exit_code(result: &Result<Outcome, CheckError>) -> u8 {
    match result {
        Ok(o) => o.state.exit_code(),
        Err(_) => Health::Unknown.exit_code(),
    }
}

/// An error as the UNKNOWN outcome to print.
pub fn outcome_of(result: Result<Outcome, CheckError>) -> Outcome {
    match result {
        Ok(o) => o,
        Err(e) => {
            let mut o = Outcome::unknown(e.to_string());
            if matches!(e, CheckError::Usage(_)) {
                o.long = format!("Usage: {USAGE}")
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            o
        }
    }
}

/// Seconds in words: `0.4s`, `42s`, `10m 4s`.
pub(super) fn secs_text(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 60.0 {
        format!("{s:.0}s")
    } else {
        Duration::from_nanos((s * 1e9) as i64).to_string()
    }
}
