//! The opt-in HTTP endpoint (`[metrics] listen`): `/metrics` in the
//! OpenMetrics text format for Prometheus (the classic text format to a
//! client that does not ask for OpenMetrics), `/` a plain HTML status page,
//! `/status.json` the status document. It serves what the daemon already
//! decided: each status write hands it the document, each event its
//! counters and the page's list; it renders at request time and judges
//! nothing.
//!
//! It runs on the process's one tokio runtime (the emit runtime), served
//! by hyper, so a slow or hostile client never holds the tracker: the
//! daemon's thread only swaps a document under a lock. Bounded: at most
//! [`MAX_CONNECTIONS`] connections at once (more are closed at accept),
//! 10 s to send the request head, 30 s per connection, the last
//! [`RECENT_EVENTS`] events.

pub mod openmetrics;
pub mod page;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::event::Event;
use crate::status::StatusDoc;
use openmetrics::EventCounters;

/// Events the status page lists (the last printed ones).
pub const RECENT_EVENTS: usize = 50;
/// Connections served at once; more are closed as they are accepted.
pub const MAX_CONNECTIONS: usize = 16;
/// How often the status page asks the browser to reload it.
const REFRESH_S: u32 = 5;

/// What the endpoint could not do at start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address is taken or not ours.
    #[error("[metrics] cannot listen on {addr}: {source} (another process has the port, or the address is not this host's; change [metrics] listen)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime could not start.
    #[error("[metrics]: {0}")]
    Runtime(std::io::Error),
}

#[derive(Default)]
struct Latest {
    doc: Option<StatusDoc>,
    events: VecDeque<String>,
}

/// The running endpoint, as the daemon holds it.
#[derive(Debug)]
pub struct Served {
    latest: Arc<Mutex<Latest>>,
    counters: EventCounters,
    /// The address it listens on (the port the system chose for `:0`).
    pub addr: SocketAddr,
}

impl std::fmt::Debug for Latest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latest")
            .field("doc", &self.doc.is_some())
            .field("events", &self.events.len())
            .finish()
    }
}

impl Served {
    /// Binds `addr` (an error here stops the daemon at start, as a bad
    /// config does) and serves on the emit runtime. `host` names the
    /// probe on the page; `links` are the configured links' names, whose
    /// event counters start at zero.
    pub fn start<'a>(
        addr: SocketAddr,
        host: String,
        links: impl IntoIterator<Item = &'a str>,
    ) -> Result<Served, ServeError> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let rt = crate::emit::delivery::runtime().map_err(ServeError::Runtime)?;
        let latest = Arc::new(Mutex::new(Latest::default()));
        let counters = EventCounters::for_links(links);
        let app = Arc::new(App {
            latest: latest.clone(),
            counters: counters.clone(),
            host,
        });
        rt.spawn(accept(listener, app));
        Ok(Served {
            latest,
            counters,
            addr: bound,
        })
    }

    /// The endpoint `config`'s `[metrics]` asks for, started; `None`
    /// without the section.
    pub fn for_config(config: &crate::config::Config) -> Result<Option<Served>, ServeError> {
        let Some(m) = &config.metrics else {
            return Ok(None);
        };
        let host = config.host.clone().unwrap_or_else(crate::emit::hostname);
        let links = config.links.iter().map(|l| &*l.name);
        Served::start(m.listen, host, links).map(Some)
    }

    /// The daemon wrote `doc`: it is what the endpoint serves from now on.
    pub fn on_status(&self, doc: &StatusDoc) {
        let mut l = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        l.doc = Some(doc.clone());
    }

    /// Every event the tracker reported: the counters count it.
    pub fn on_event(&self, e: &Event) {
        self.counters.count(e);
    }

    /// An event the daemon printed (storm control passed it): the page
    /// lists the last [`RECENT_EVENTS`].
    pub fn on_printed(&self, line: String) {
        let mut l = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if l.events.len() >= RECENT_EVENTS {
            l.events.pop_front();
        }
        l.events.push_back(line);
    }
}

struct App {
    latest: Arc<Mutex<Latest>>,
    counters: EventCounters,
    host: String,
}

async fn accept(listener: std::net::TcpListener, app: Arc<App>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            crate::logging::warn(&format!("[metrics]: cannot serve: {e}"));
            return;
        }
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                crate::logging::warn(&format!("[metrics]: accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.respond(&req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

impl App {
    fn respond<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "GET only\n",
            );
        }
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        match req.uri().path() {
            "/metrics" => {
                let text = openmetrics::render(
                    latest.doc.as_ref(),
                    &self.counters,
                    env!("CARGO_PKG_VERSION"),
                );
                let accept = req
                    .headers()
                    .get(hyper::header::ACCEPT)
                    .and_then(|v| v.to_str().ok());
                if openmetrics::wants_openmetrics(accept) {
                    reply(StatusCode::OK, openmetrics::CONTENT_TYPE, text)
                } else {
                    reply(
                        StatusCode::OK,
                        openmetrics::CLASSIC_CONTENT_TYPE,
                        openmetrics::to_classic(&text),
                    )
                }
            }
            "/" => reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page::render(latest.doc.as_ref(), &latest.events, REFRESH_S, &self.host),
            ),
            "/status.json" => match &latest.doc {
                Some(doc) => match serde_json::to_vec(doc) {
                    Ok(body) => reply(StatusCode::OK, "application/json", body),
                    Err(e) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain; charset=utf-8",
                        format!("cannot encode the status: {e}\n"),
                    ),
                },
                None => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    "no status yet: the daemon has not written its first status document\n",
                ),
            },
            _ => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found: /metrics (OpenMetrics), / (status page), /status.json\n",
            ),
        }
    }
}
