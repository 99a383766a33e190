//! Packet-clock time: the only notion of time the sans-IO core knows.
//!
//! The decoder, tracker and policy never read a clock. Live capture converts
//! wall-clock time to a [`Timestamp`] at the edge; replay uses the timestamps
//! recorded in the file. That is what makes a replay deterministic.

use std::fmt;

use chrono::Datelike;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A point in time: nanoseconds since the Unix epoch, from the packet clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from nanoseconds since the epoch.
    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(nanos)
    }

    /// A timestamp from whole seconds and a nanosecond part, as pcap headers give them.
    pub fn from_parts(secs: i64, nanos: i64) -> Timestamp {
        Timestamp(secs.saturating_mul(NANOS_PER_SEC).saturating_add(nanos))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono UTC time, for formats other than the
    /// timeline's (ISO 8601 for PagerDuty, a local time for Slack).
    pub fn to_chrono(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_nanos(self.0)
    }

    /// Seconds since the epoch, as the JSON output writes them.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// This time plus `d`, saturating at the end of time.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(d.0))
    }

    /// This time minus `d`, saturating at the start of time.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(d.0))
    }

    /// RFC 3339 in UTC to the microsecond (`2026-03-14T02:15:10.319500Z`),
    /// for documents other programs read.
    pub fn rfc3339(self) -> String {
        self.to_chrono()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// How long after `earlier` this is; zero if it is not after.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(earlier.0).max(0))
    }

    /// `YYYY-MM-DD HH:MM:SS.uuuuuu` in UTC, for the text timeline.
    pub fn utc(self) -> String {
        let mut buf = Vec::with_capacity(26);
        self.write_utc(&mut buf);
        // Only ASCII digits and separators are written.
        String::from_utf8(buf).unwrap_or_default()
    }

    /// [`Timestamp::utc`] appended to `buf`, with no `String` or `fmt` per
    /// call: the text timeline writes two per connection and one per event.
    pub fn write_utc(self, buf: &mut Vec<u8>) {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let micros = self.0.rem_euclid(NANOS_PER_SEC) / 1000;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Consecutive lines are nearly always on the same day: the date
        // part is kept from the last call on this thread.
        let cached = LAST_DAY.with(|c| {
            let (day, date) = c.get();
            (day == Some(days)).then_some(date)
        });
        match cached {
            Some(date) => buf.extend_from_slice(&date),
            None => {
                let (y, m, d) = civil_from_days(days);
                match u64::try_from(y).ok().filter(|y| *y <= 9999) {
                    Some(year) => {
                        let mut date = *b"0000-00-00";
                        fill_padded(&mut date, 0, year, 4);
                        fill_padded(&mut date, 5, u64::from(m), 2);
                        fill_padded(&mut date, 8, u64::from(d), 2);
                        LAST_DAY.with(|c| c.set((Some(days), date)));
                        buf.extend_from_slice(&date);
                    }
                    // Outside 0..=9999, as `format!("{y:04}")` writes it.
                    None => buf.extend_from_slice(format!("{y:04}-{m:02}-{d:02}").as_bytes()),
                }
            }
        }
        // Each part is within 0..1_000_000: `unsigned_abs` only changes the type.
        let mut clock = *b" 00:00:00.000000";
        fill_padded(&mut clock, 1, (rem / 3600).unsigned_abs(), 2);
        fill_padded(&mut clock, 4, (rem % 3600 / 60).unsigned_abs(), 2);
        fill_padded(&mut clock, 7, (rem % 60).unsigned_abs(), 2);
        fill_padded(&mut clock, 10, micros.unsigned_abs(), 6);
        buf.extend_from_slice(&clock);
    }
}

thread_local! {
    /// The day [`Timestamp::write_utc`] wrote last and its `YYYY-MM-DD`.
    static LAST_DAY: std::cell::Cell<(Option<i64>, [u8; 10])> =
        const { std::cell::Cell::new((None, [0; 10])) };
}

/// "00" to "99": two digits per division.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The last `width` decimal digits of `n` into `out[at..at + width]`
/// (`width` even).
fn fill_padded(out: &mut [u8], at: usize, mut n: u64, width: usize) {
    let Some(field) = out.get_mut(at..at + width) else {
        return;
    };
    for pair in field.rchunks_exact_mut(2) {
        let i = (n % 100) as usize * 2;
        if let Some(digits) = PAIRS.get(i..i + 2) {
            pair.copy_from_slice(digits);
        }
        n /= 100;
    }
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_padded(buf: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let s = digits.format(n).as_bytes();
    buf.extend(std::iter::repeat_n(b'0', width.saturating_sub(s.len())));
    buf.extend_from_slice(s);
}

/// Year, month and day of `days` since 1970-01-01 in the proleptic
/// Gregorian calendar, from chrono. An `i64` of nanoseconds spans 1677 to
/// 2262, well inside chrono's ±262,000 years, so the fallback (the epoch
/// day itself) is never taken; it is there only so no input can panic.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = i32::try_from(days)
        .ok()
        .and_then(chrono::NaiveDate::from_epoch_days);
    match date {
        Some(date) => (i64::from(date.year()), date.month(), date.day()),
        None => (1970, 1, 1),
    }
}

/// A non-negative span of packet-clock time, in nanoseconds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `nanos` nanoseconds (negative values become zero).
    pub const fn from_nanos(nanos: i64) -> Duration {
        Duration(if nanos < 0 { 0 } else { nanos })
    }

    /// A duration of whole milliseconds.
    pub const fn from_millis(ms: i64) -> Duration {
        Duration::from_nanos(ms.saturating_mul(1_000_000))
    }

    /// A duration of whole seconds.
    pub const fn from_secs(s: i64) -> Duration {
        Duration::from_nanos(s.saturating_mul(NANOS_PER_SEC))
    }

    /// Nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// This span plus `other`, saturating.
    pub const fn plus(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }

    /// Milliseconds as a float.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// Seconds as a float, for JSON.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// Parses the config syntax: a sequence of `<number><unit>` with units
    /// `ms`, `s`, `m`, `h`, `d` (`"45s"`, `"1m30s"`, `"500ms"`, `"1.5s"`).
    ///
    /// The grammar is humantime's (which also takes `min`, `sec`, `w`,
    /// spaces between parts, …); its errors are reworded here so that each
    /// says what to write instead.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let s = text.trim();
        let example = "write e.g. \"45s\", \"500ms\" or \"2m\"";
        let parsed = humantime::parse_duration(s).map_err(|e| match e {
            humantime::DurationError::Empty => format!("an empty duration; {example}"),
            humantime::DurationError::UnknownUnit { start, unit, .. } if unit.is_empty() => {
                let before = s.get(..start).unwrap_or_default().trim_end();
                let num_at = before
                    .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(0, |i| i + 1);
                let num = before.get(num_at..).unwrap_or_default();
                format!("`{text}` has no unit; write e.g. \"{num}s\" (units: ms, s, m, h, d)")
            }
            humantime::DurationError::UnknownUnit { unit, .. } => {
                format!("`{text}` has an unknown unit `{unit}` (units: ms, s, m, h, d)")
            }
            humantime::DurationError::NumberOverflow => {
                format!("`{text}` is too long a duration, or finer than a nanosecond")
            }
            humantime::DurationError::InvalidCharacter(_)
            | humantime::DurationError::NumberExpected(_) => {
                format!("`{text}` is not a duration; {example}")
            }
        })?;
        if parsed.as_secs() >= MAX_SECS {
            return Err(format!("`{text}` is too long a duration"));
        }
        // Below 1e9 s, the nanoseconds fit an i64 with room to spare.
        Ok(Duration(
            i64::try_from(parsed.as_nanos()).unwrap_or(i64::MAX),
        ))
    }

    /// [`Duration::parse`], or a bare number of seconds (`10`, `0.5`), and
    /// more than zero: the Nagios check's `--timeout`, `--max-age` and
    /// `--duration`, where plugin conventions give plain seconds.
    pub fn parse_seconds_or_duration(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let d = match t.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs > 0.0 && secs < MAX_SECS as f64 => {
                Duration::from_nanos((secs * NANOS_PER_SEC as f64).round() as i64)
            }
            Ok(_) => Duration::ZERO,
            Err(_) => Duration::parse(t)?,
        };
        if d > Duration::ZERO {
            Ok(d)
        } else {
            Err(format!("`{text}` is not a positive number of seconds"))
        }
    }
}

/// Durations are kept below this many seconds (about 31 years): the config
/// and the check have no use for longer, and the sums stay far from overflow.
const MAX_SECS: u64 = 1_000_000_000;

impl Duration {
    /// The human form ([`Duration`]'s `Display`) appended to `buf`, with
    /// no `fmt` on the common paths: most FIN and reset lines carry one.
    pub fn write_human(self, buf: &mut Vec<u8>) {
        let secs = u64::try_from(self.0 / NANOS_PER_SEC).unwrap_or(0);
        let (d, h, m, s) = (
            secs / 86_400,
            secs % 86_400 / 3600,
            secs % 3600 / 60,
            secs % 60,
        );
        let mut digits = itoa::Buffer::new();
        let mut pair = |buf: &mut Vec<u8>, a: u64, ua: &[u8], b: u64, ub: &[u8]| {
            buf.extend_from_slice(digits.format(a).as_bytes());
            buf.extend_from_slice(ua);
            buf.extend_from_slice(digits.format(b).as_bytes());
            buf.extend_from_slice(ub);
        };
        if d > 0 {
            pair(buf, d, b"d ", h, b"h");
        } else if h > 0 {
            pair(buf, h, b"h ", m, b"m");
        } else if m > 0 {
            pair(buf, m, b"m ", s, b"s");
        } else if secs >= 10 {
            push_padded(buf, s, 0);
            buf.push(b's');
        } else {
            // `{:.3}` of the float rounds to the nearest millisecond; the
            // integer division does the same except on an exact tie, where
            // the float's binary value decides: leave that to `fmt`.
            let nanos = self.0.max(0);
            let below_ms = nanos % 1_000_000;
            if below_ms == 500_000 {
                buf.extend_from_slice(format!("{:.3}s", self.as_secs_f64()).as_bytes());
                return;
            }
            let ms = u64::try_from(nanos / 1_000_000 + i64::from(below_ms > 500_000)).unwrap_or(0);
            push_padded(buf, ms / 1000, 0);
            buf.push(b'.');
            push_padded(buf, ms % 1000, 3);
            buf.push(b's');
        }
    }
}

impl fmt::Display for Duration {
    /// Human form for timelines: `3d 4h`, `2h 5m`, `42s`, `1.250s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(16);
        self.write_human(&mut buf);
        f.write_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_dates() {
        assert_eq!(
            Timestamp::from_parts(0, 0).utc(),
            "1970-01-01 00:00:00.000000"
        );
        assert_eq!(
            Timestamp::from_parts(1_600_135_987, 123_456_000).utc(),
            "2020-09-15 02:13:07.123456"
        );
        // After 2038 and after 2106 (pcap's 32-bit seconds would wrap there).
        assert_eq!(
            Timestamp::from_parts(2_147_483_648, 0).utc(),
            "2038-01-19 03:14:08.000000"
        );
        assert_eq!(
            Timestamp::from_parts(4_294_967_296, 0).utc(),
            "2106-02-07 06:28:16.000000"
        );
    }

    #[test]
    fn durations_parse_like_the_config_docs_say() {
        assert_eq!(Duration::parse("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(Duration::parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(Duration::parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(Duration::parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(Duration::parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(Duration::parse("45").unwrap_err().contains("no unit"));
        assert!(Duration::parse("4x").unwrap_err().contains("unknown unit"));
        assert!(Duration::parse("").is_err());
        assert_eq!(Duration::parse("0.2s"), Ok(Duration::from_millis(200)));
        assert_eq!(Duration::parse("1min"), Ok(Duration::from_secs(60)));
        assert_eq!(Duration::parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            Duration::parse("1.5").unwrap_err(),
            "`1.5` has no unit; write e.g. \"1.5s\" (units: ms, s, m, h, d)"
        );
        assert_eq!(
            Duration::parse("4x").unwrap_err(),
            "`4x` has an unknown unit `x` (units: ms, s, m, h, d)"
        );
        assert!(Duration::parse("-5s")
            .unwrap_err()
            .contains("not a duration"));
        assert!(Duration::parse("99999999999s")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn the_check_takes_bare_seconds_or_durations() {
        let parse = Duration::parse_seconds_or_duration;
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse(" 3 "), Ok(Duration::from_secs(3)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("0.2s"), Ok(Duration::from_millis(200)));
        for bad in ["0", "-1", "0s", "1e10", "inf", "NaN"] {
            assert_eq!(
                parse(bad),
                Err(format!("`{bad}` is not a positive number of seconds"))
            );
        }
        assert!(parse("4x").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn durations_print_for_humans() {
        assert_eq!(
            Duration::from_secs(3 * 86_400 + 4 * 3600 + 5).to_string(),
            "3d 4h"
        );
        assert_eq!(Duration::from_secs(42).to_string(), "42s");
        assert_eq!(Duration::from_millis(1250).to_string(), "1.250s");
        assert_eq!(Duration::from_secs(125).to_string(), "2m 5s");
    }

    /// The `fmt`-based forms the hand-written writers replaced.
    fn reference_human(d: Duration) -> String {
        let secs = d.0 / NANOS_PER_SEC;
        let (dd, h, m, s) = (
            secs / 86_400,
            secs % 86_400 / 3600,
            secs % 3600 / 60,
            secs % 60,
        );
        if dd > 0 {
            format!("{dd}d {h}h")
        } else if h > 0 {
            format!("{h}h {m}m")
        } else if m > 0 {
            format!("{m}m {s}s")
        } else if secs >= 10 {
            format!("{s}s")
        } else {
            format!("{:.3}s", d.as_secs_f64())
        }
    }

    /// chrono's own formatter: what the cached writer must match.
    fn reference_utc(t: Timestamp) -> String {
        chrono::DateTime::from_timestamp_nanos(t.0)
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    }

    /// Howard Hinnant's days-to-civil algorithm, the hand-written
    /// calendar chrono replaced: the two agree on every day an `i64` of
    /// nanoseconds can reach.
    fn hinnant_civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let (m, d) = (u32::try_from(m).unwrap(), u32::try_from(d).unwrap());
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    #[test]
    fn chrono_calendar_matches_the_hand_written_one() {
        let first = i64::MIN.div_euclid(NANOS_PER_SEC * 86_400);
        let last = i64::MAX.div_euclid(NANOS_PER_SEC * 86_400);
        for day in first..=last {
            assert_eq!(
                civil_from_days(day),
                hinnant_civil_from_days(day),
                "day {day}"
            );
        }
    }

    #[test]
    fn hand_written_forms_match_fmt_byte_for_byte() {
        // Sub-10 s durations around every rounding case, ties included;
        // then a spread of magnitudes up to weeks.
        let mut nanos: Vec<i64> = (0..20_000).map(|i| i * 499_999 + i % 7).collect();
        for ms in [0, 1, 999, 1000, 9_999, 1234] {
            for off in [-1, 0, 1, 499_999, 500_000, 500_001] {
                nanos.push(ms * 1_000_000 + off);
            }
        }
        nanos.extend((0..5000).map(|i| i * 1_234_567_891_i64));
        for n in nanos.into_iter().filter(|n| *n >= 0) {
            let d = Duration::from_nanos(n);
            assert_eq!(d.to_string(), reference_human(d), "{n} ns");
        }
        let stamps = [
            -86_400_000_000_001,
            -1,
            0,
            999,
            1_600_135_987_123_456_789,
            1_700_000_000_000_388_100,
            i64::MAX,
            i64::MIN,
        ];
        for n in stamps
            .into_iter()
            .chain((0..5000).map(|i| i * 987_654_321_987_i64))
        {
            let t = Timestamp::from_nanos(n);
            assert_eq!(t.utc(), reference_utc(t), "{n} ns");
        }
    }
}
