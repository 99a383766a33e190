//! Delivery of outbox entries over HTTP: one async task per destination on
//! the process's one emit runtime (tokio, a single worker thread named
//! `linewatch-emit`), so the destinations share one reactor and timer.
//!
//! Strictly oldest first, one at a time: a resolve is only attempted after
//! every entry before it — its trigger included — was accepted (or
//! permanently rejected, in which case the resolve is dropped too). Retries
//! on connection errors, timeouts (5 s per request), 429 (honouring
//! `Retry-After`, capped at 5 minutes) and 5xx, with exponential backoff
//! (1 s doubling to 60 s) and ±25 % jitter. No retry on other 4xx:
//! the endpoint's error body is logged and the entry dropped. The outbox
//! itself is small local files behind a mutex, read and removed in place
//! from the task (an entry at a time, well under a millisecond).

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::policy::Action;

use super::outbox::{Entry, Outbox};

/// Per-request timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// First retry delay.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest retry delay (and cap on `Retry-After`: 5 minutes).
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

/// A credential (routing key, webhook URL): it prints as `***` in every
/// `Debug` and `Display`, so no log line or error can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    /// Wraps a credential read from its file or variable.
    pub fn new(value: String) -> Credential {
        Credential(value)
    }

    /// The credential itself, for the request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A destination's credential, and the links that have their own (a
/// link's `pagerduty = { ... }` or `slack = { ... }`): the Visa line's
/// pages go to its team's key, the probe's own to the section's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routed {
    /// The section's credential: links without their own, the probe.
    pub default: Credential,
    /// Links with their own, by name.
    pub per_link: Vec<(String, Credential)>,
}

impl Routed {
    /// One credential for everything.
    pub fn single(c: Credential) -> Routed {
        Routed {
            default: c,
            per_link: Vec::new(),
        }
    }

    /// The credential for an entry about `link` (`None`: the probe's).
    pub fn for_link(&self, link: Option<&str>) -> &Credential {
        link.and_then(|l| self.per_link.iter().find(|(n, _)| n == l))
            .map_or(&self.default, |(_, c)| c)
    }
}

/// What a destination needs to turn an entry into a request.
pub trait Destination: Send + Sync + 'static {
    /// Short name for logs and metrics (`pagerduty`, `slack`).
    fn name(&self) -> &'static str;
    /// The URL to POST `entry` to (may be a secret: never logged).
    fn url(&self, entry: &Entry) -> &str;
    /// The JSON body for an entry, encoded once (secrets added here, not
    /// stored).
    fn body(&self, entry: &Entry) -> serde_json::Result<Vec<u8>>;
    /// Is this 2xx response body an acceptance? (Slack answers `ok`.)
    fn accepted(&self, _status: u16, _body: &str) -> bool {
        true
    }
}

/// Counters of one destination.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Entries accepted by the endpoint.
    pub delivered: AtomicU64,
    /// Attempts that will be retried.
    pub retries: AtomicU64,
    /// Entries the endpoint refused for good (4xx).
    pub rejected: AtomicU64,
    /// Entries waiting in the outbox.
    pub pending: AtomicU64,
}

/// A running delivery task and its outbox.
#[derive(Debug)]
pub struct Delivery {
    name: &'static str,
    outbox: Arc<Mutex<Outbox>>,
    signals: Arc<Signals>,
    task: JoinHandle<()>,
    /// Counters.
    pub stats: Arc<DeliveryStats>,
}

/// How the owner reaches its task: a new entry, or stop.
#[derive(Debug, Default)]
struct Signals {
    /// An entry was stored: look at the outbox now, not at the next poll.
    wake: Notify,
    /// Set once; [`Signals::stop_now`] also ends a backoff wait early.
    stop: AtomicBool,
    stopped: Notify,
}

impl Signals {
    fn stop_now(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // A permit is kept if the task is not waiting yet.
        self.stopped.notify_one();
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits for `d`, a new entry or stop, whichever comes first.
    async fn idle(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.wake.notified() => {}
            _ = self.stopped.notified() => {}
        }
    }

    /// Waits for `d` or stop: new entries do not cut a backoff short.
    async fn back_off(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.stopped.notified() => {}
        }
    }
}

/// The process's one runtime for HTTP: delivery, started by the first
/// destination (both destinations' tasks, their sockets and timers share
/// its single worker thread: a few requests a minute at most), and the
/// `[metrics]` endpoint (`crate::serve`: a scrape every few seconds).
pub(crate) fn runtime() -> std::io::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("linewatch-emit")
        .enable_all()
        .build()
        .map_err(|e| std::io::Error::other(format!("cannot start the HTTP runtime: {e}")))?;
    // Two first callers at once: one runtime wins, the other is dropped
    // before it ran anything.
    Ok(RUNTIME.get_or_init(|| rt))
}

#[track_caller]
fn log(name: &str, msg: &str) {
    crate::logging::warn(&format!("{name}: {msg}"));
}

/// Jitter: ±25 % from a small xorshift seeded by time and pid.
fn jittered(d: Duration, seed: &mut u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let f = 0.75 + (*seed % 1000) as f64 / 2000.0;
    d.mul_f64(f)
}

enum Outcome {
    Accepted,
    Rejected(String),
    Retry(Option<Duration>, String),
}

impl Delivery {
    /// Opens the outbox in `dir` (entries from a previous run are sent
    /// first) and starts the delivery task on the emit runtime.
    pub fn start<D: Destination>(dest: D, dir: &Path) -> std::io::Result<Delivery> {
        let name = dest.name();
        let rt = runtime()?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| {
                std::io::Error::other(format!("cannot build the HTTP client: {}", e.without_url()))
            })?;
        let outbox = Arc::new(Mutex::new(Outbox::open(dir)?));
        let signals = Arc::new(Signals::default());
        let stats = Arc::new(DeliveryStats::default());
        let task = {
            let (outbox, signals, stats) = (outbox.clone(), signals.clone(), stats.clone());
            rt.spawn(async move { run(dest, client, &outbox, &signals, &stats).await })
        };
        Ok(Delivery {
            name,
            outbox,
            signals,
            task,
            stats,
        })
    }

    /// Stores a notification (durably if the disk takes it, else in
    /// memory: see [`Outbox`]), then wakes the sender.
    pub fn enqueue(&self, entry: &Entry) -> std::io::Result<super::outbox::Kept> {
        let mut outbox = self
            .outbox
            .lock()
            .map_err(|_| std::io::Error::other("outbox lock poisoned"))?;
        let kept = outbox.push(entry)?;
        drop(outbox);
        self.signals.wake.notify_one();
        Ok(kept)
    }

    /// Notifications held in memory because the disk refused them, and
    /// the disk's last word.
    pub fn unsaved(&self) -> (usize, Option<String>) {
        self.outbox
            .lock()
            .map(|o| {
                let (n, why) = o.unsaved();
                (n, why.map(str::to_string))
            })
            .unwrap_or((0, None))
    }

    /// The destination's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Entries in the outbox right now.
    pub fn pending_now(&self) -> usize {
        self.outbox.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Entries dropped because the outbox was full.
    pub fn dropped_full(&self) -> u64 {
        self.outbox.lock().map(|o| o.dropped_full()).unwrap_or(0)
    }

    /// Stops the task (pending entries stay in the outbox), waiting for
    /// a request in flight to end (at most [`REQUEST_TIMEOUT`]).
    pub fn shutdown(self) {
        self.shutdown_within(Duration::MAX);
    }

    /// Stops the task, waiting at most `limit` for a request in flight
    /// (process exit: SIGTERM must stop within 5 s). A request still
    /// running then is abandoned (the task is aborted); its entry stays in
    /// the outbox and is sent again after the restart (PagerDuty
    /// deduplicates by key). Returns whether the task ended in time.
    pub fn shutdown_within(self, limit: Duration) -> bool {
        self.signals.stop_now();
        // Polled, not awaited: the caller is a plain thread (the daemon's
        // main loop), possibly without a runtime of its own.
        let start = Instant::now();
        while !self.task.is_finished() {
            if start.elapsed() >= limit {
                self.task.abort();
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// `Retry-After`: delta-seconds (`120`) or an HTTP-date (`Wed, 21 Oct
/// 2015 07:28:00 GMT`), against `now` (seconds since the epoch). A date in
/// the past means now.
fn retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(Duration::from_secs(
        u64::try_from(at.timestamp() - now).unwrap_or(0),
    ))
}

/// One destination's delivery loop, until stopped (or the outbox lock is
/// poisoned).
async fn run<D: Destination>(
    dest: D,
    client: reqwest::Client,
    outbox: &Mutex<Outbox>,
    signals: &Signals,
    stats: &DeliveryStats,
) {
    let name = dest.name();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7);
    let mut seed = (u64::from(std::process::id()) << 32) ^ u64::from(nanos) ^ name.len() as u64 | 1;
    let mut backoff = BACKOFF_START;
    let mut rejected_triggers: HashSet<String> = HashSet::new();
    while !signals.stopping() {
        let next = match outbox.lock() {
            Ok(mut o) => {
                stats.pending.store(o.len() as u64, Ordering::Relaxed);
                o.oldest()
            }
            Err(_) => return log(name, "outbox lock poisoned"),
        };
        let (seq, entry) = match next {
            Ok(Some(x)) => x,
            Ok(None) => {
                signals.idle(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                log(name, &format!("cannot read the outbox: {e}"));
                signals.idle(Duration::from_secs(5)).await;
                continue;
            }
        };
        let remove = |seq| {
            if let Ok(mut o) = outbox.lock() {
                if let Err(e) = o.remove(seq) {
                    log(name, &format!("cannot remove delivered entry: {e}"));
                }
            }
        };
        if entry.action == Action::Resolve && rejected_triggers.contains(&entry.dedup_key) {
            log(
                name,
                &format!(
                    "dropping resolve of {}: its trigger was rejected",
                    entry.dedup_key
                ),
            );
            rejected_triggers.remove(&entry.dedup_key);
            remove(seq);
            continue;
        }
        let body = match dest.body(&entry) {
            Ok(b) => b,
            Err(e) => {
                log(name, &format!("cannot encode {}: {e}", entry.dedup_key));
                remove(seq);
                continue;
            }
        };
        let outcome = post(&dest, &client, dest.url(&entry), body).await;
        match outcome {
            Outcome::Accepted => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                backoff = BACKOFF_START;
                remove(seq);
            }
            Outcome::Rejected(why) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                log(
                    name,
                    &format!(
                        "{} {} rejected, not retried: {why}",
                        entry.action.name(),
                        entry.dedup_key
                    ),
                );
                if entry.action == Action::Trigger {
                    rejected_triggers.insert(entry.dedup_key.clone());
                }
                remove(seq);
            }
            Outcome::Retry(after, why) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                let wait = match after {
                    Some(a) => a.min(RETRY_AFTER_MAX),
                    None => {
                        let w = jittered(backoff, &mut seed);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        w
                    }
                };
                log(
                    name,
                    &format!(
                        "{} {} not delivered ({why}); retrying in {:.1}s",
                        entry.action.name(),
                        entry.dedup_key,
                        wait.as_secs_f64()
                    ),
                );
                signals.back_off(wait).await;
            }
        }
    }
}

/// One POST of `body` and what to do about its answer.
async fn post<D: Destination>(
    dest: &D,
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Outcome {
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    match request.send().await {
        Err(e) => {
            // The cause chain says what happened (refused, timed
            // out); `without_url` keeps a webhook secret out of it.
            let e = e.without_url();
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            Outcome::Retry(None, msg)
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, chrono::Utc::now().timestamp()));
            let text = resp.text().await.unwrap_or_default();
            let text: String = text.chars().take(500).collect();
            match status {
                200..=299 if dest.accepted(status, &text) => Outcome::Accepted,
                200..=299 => Outcome::Rejected(format!("HTTP {status}: {text}")),
                408 | 429 => Outcome::Retry(retry_after, format!("HTTP {status}: {text}")),
                500..=599 => Outcome::Retry(retry_after, format!("HTTP {status}: {text}")),
                _ => Outcome::Rejected(format!("HTTP {status}: {text}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = 1_445_412_400; // Wed, 21 Oct 2015 07:26:40 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(80))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }
}
