//! Threshold ranges in the Monitoring Plugins syntax.
//!
//! | range    | alerts when            |
//! |----------|------------------------|
//! | `10`     | x < 0 or x > 10        |
//! | `10:`    | x < 10                 |
//! | `~:10`   | x > 10                 |
//! | `10:20`  | x < 10 or x > 20       |
//! | `@10:20` | 10 <= x <= 20          |
//!
//! An empty start (`:10`) is 0, like the Monitoring Plugins' own parser.
//! The text is kept as given, for the perfdata's warn and crit fields.

use std::fmt;
use std::str::FromStr;

/// One threshold range.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    start: f64,
    end: f64,
    inside: bool,
    text: String,
}

fn number(s: &str, whole: &str) -> Result<f64, String> {
    // f64::from_str also takes "inf" and "NaN": not range syntax.
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    match s.parse::<f64>() {
        Ok(v) if ok && v.is_finite() => Ok(v),
        _ => Err(format!(
            "invalid range `{whole}`: `{s}` is not a number (ranges: `10`, `10:`, `~:10`, `10:20`, `@10:20`)"
        )),
    }
}

impl Range {
    /// Parses `[@]start:end`, `[@]end`, `[@]start:`, `[@]~:end`.
    pub fn parse(text: &str) -> Result<Range, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty range (ranges: `10`, `10:`, `~:10`, `10:20`, `@10:20`)".to_string());
        }
        let (inside, body) = match t.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (start, end) = match body.split_once(':') {
            Some((s, e)) => {
                let start = match s {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    s => number(s, t)?,
                };
                let end = match e {
                    "" => f64::INFINITY,
                    e => number(e, t)?,
                };
                (start, end)
            }
            None => (0.0, number(body, t)?),
        };
        if start > end {
            return Err(format!(
                "invalid range `{t}`: the start is greater than the end"
            ));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: t.to_string(),
        })
    }

    /// Does `x` raise an alert under this range?
    pub fn alerts(&self, x: f64) -> bool {
        let outside = x < self.start || x > self.end;
        if self.inside {
            !outside
        } else {
            outside
        }
    }

    /// The range as given (for perfdata and messages).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Range {
    type Err = String;

    fn from_str(s: &str) -> Result<Range, String> {
        Range::parse(s)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        Range::parse(s).unwrap()
    }

    #[test]
    fn plain_end_alerts_below_zero_or_above_end() {
        let x = r("10");
        assert!(x.alerts(-0.5));
        assert!(!x.alerts(0.0));
        assert!(!x.alerts(10.0));
        assert!(x.alerts(10.01));
    }

    #[test]
    fn open_end_alerts_below_start() {
        let x = r("10:");
        assert!(x.alerts(9.99));
        assert!(!x.alerts(10.0));
        assert!(!x.alerts(1e12));
        let one = r("1:");
        assert!(one.alerts(0.0));
        assert!(!one.alerts(1.0));
    }

    #[test]
    fn negative_infinity_start_alerts_above_end() {
        let x = r("~:10");
        assert!(!x.alerts(-1e12));
        assert!(!x.alerts(10.0));
        assert!(x.alerts(11.0));
        assert!(!r("~:").alerts(1e300));
    }

    #[test]
    fn start_end_alerts_outside() {
        let x = r("10:20");
        assert!(x.alerts(9.0));
        assert!(!x.alerts(10.0));
        assert!(!x.alerts(20.0));
        assert!(x.alerts(20.5));
        let n = r("-5:-1");
        assert!(n.alerts(0.0));
        assert!(!n.alerts(-3.0));
        assert!(!r(":10").alerts(0.0));
        assert!(r(":10").alerts(-1.0));
    }

    #[test]
    fn at_sign_inverts_inclusively() {
        let x = r("@10:20");
        assert!(!x.alerts(9.99));
        assert!(x.alerts(10.0));
        assert!(x.alerts(15.0));
        assert!(x.alerts(20.0));
        assert!(!x.alerts(20.01));
        let y = r("@5");
        assert!(y.alerts(0.0));
        assert!(y.alerts(5.0));
        assert!(!y.alerts(6.0));
        assert!(!y.alerts(-1.0));
        let z = r("@~:3");
        assert!(z.alerts(-100.0));
        assert!(!z.alerts(4.0));
    }

    #[test]
    fn fractions_and_text_are_kept() {
        let x = r(" 0.5:2.5 ");
        assert!(x.alerts(0.4));
        assert!(!x.alerts(2.5));
        assert_eq!(x.as_str(), "0.5:2.5");
        assert_eq!(r("@10:20").to_string(), "@10:20");
    }

    #[test]
    fn invalid_ranges_are_refused_with_the_syntax() {
        for bad in [
            "", "abc", "10:5", "@", "~", "10:x", "x:10", "1:2:3", "inf", "NaN", ":~", "@@1", "-5",
            "10s",
        ] {
            let e = Range::parse(bad).unwrap_err();
            assert!(e.contains("range"), "{bad}: {e}");
        }
        assert!(Range::parse("10:5").unwrap_err().contains("greater"));
        assert!(Range::parse("abc").unwrap_err().contains("`10:20`"));
    }
}
