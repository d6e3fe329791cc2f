//! The hub's operations surface for running it behind a load balancer: `GET /metrics` in the
//! Prometheus text format (version 0.0.4) and `GET /readyz` (see "Monitoring" in
//! `docs/operations.md`).
//!
//! The figures are counted where the facts are known, one short call each: the request counter
//! is a layer of [`crate::app`] ([`CountRequests`], keyed by the matched route, never the raw
//! path), sync rounds in the sync handler from the engine's answer ([`Metrics::sync_round`]),
//! attachment bytes in the blob handlers, open event streams in the events handler. Recording
//! is an atomic increment (a histogram takes a short lock); label values are `&'static str`
//! from fixed lists, so the label sets stay bounded and nothing is allocated per request. No
//! label or value carries personal data, user names, receipt numbers or tokens.
//!
//! The storage figures come from [`Storage::counts`], read at most every
//! [`STORAGE_REFRESH`] (a scrape in between gets the last figures), one read at a time.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bianmin_protocol::{PushResult, SyncResponse};
use futures_util::{Stream, StreamExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::AppState;
use crate::error::AppError;
use crate::storage::{Connections, Storage};

/// The storage figures are read at most this often.
pub const STORAGE_REFRESH: Duration = Duration::from_secs(5);
/// How long `/readyz` and a scrape wait for the storage before giving up on it.
pub const STORAGE_WAIT: Duration = Duration::from_secs(2);

/// The route groups of `bianmin_http_requests_total`.
pub const ROUTE_GROUPS: [&str; 7] = [
    "sync", "blobs", "events", "enrol", "console", "public", "other",
];

/// The refusal codes counted by name (every code of the table in `docs/sync-protocol.md`, and
/// the engine's own `too_many_changes`); any other is counted as `other`.
pub const REFUSAL_CODES: [&str; 15] = [
    "malformed",
    "too_large",
    "too_many_changes",
    "forged_actor",
    "replayed_change",
    "missing_dependencies",
    "schema",
    "immutable",
    "history_rewritten",
    "forged_author",
    "implausible_time",
    "unrecorded_edit",
    "duplicate_receipt",
    "forbidden",
    "invalid",
];

/// Upper bounds, in seconds, of the push latency histogram's buckets.
const PUSH_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    group: &'static str,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    code: &'static str,
}

/// The hub's metrics and its readiness (whether shutdown has begun). One per [`AppState`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rounds: Counter,
    accepted: Counter,
    refused: Family<RefusalLabels, Counter>,
    push_seconds: Histogram,
    blob_received: Counter,
    blob_sent: Counter,
    streams_open: Gauge,
    documents: Gauge,
    changes: Gauge,
    connections: Family<ConnectionLabels, Gauge>,
    connections_max: Gauge,
    draining: Gauge,
    storage_read_at: tokio::sync::Mutex<Option<Instant>>,
    storage_reading: Arc<AtomicBool>,
    probing: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("rounds", &self.rounds.get())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric family at zero, registered.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            rounds: Counter::default(),
            accepted: Counter::default(),
            refused: Family::default(),
            push_seconds: Histogram::new(PUSH_BUCKETS),
            blob_received: Counter::default(),
            blob_sent: Counter::default(),
            streams_open: Gauge::default(),
            documents: Gauge::default(),
            changes: Gauge::default(),
            connections: Family::default(),
            connections_max: Gauge::default(),
            draining: Gauge::default(),
            storage_read_at: tokio::sync::Mutex::new(None),
            storage_reading: Arc::new(AtomicBool::new(false)),
            probing: Arc::new(AtomicBool::new(false)),
            shutdown: watch::Sender::new(false),
        };
        // Every refusal code from the start, at 0, so that a rate of each can be graphed
        // before the first one happens.
        for code in REFUSAL_CODES.into_iter().chain(["other"]) {
            let _ = m.refused.get_or_create(&RefusalLabels { code });
        }
        let mut registry = Registry::default();
        registry.register(
            "bianmin_http_requests",
            "HTTP requests answered, by route group and status class",
            m.requests.clone(),
        );
        registry.register(
            "bianmin_sync_rounds",
            "Sync rounds answered (200) to devices",
            m.rounds.clone(),
        );
        registry.register(
            "bianmin_sync_documents_accepted",
            "Pushed documents accepted (stored, or already held)",
            m.accepted.clone(),
        );
        registry.register(
            "bianmin_sync_documents_refused",
            "Pushed documents refused, by refusal code",
            m.refused.clone(),
        );
        registry.register(
            "bianmin_sync_push_duration_seconds",
            "Time the engine took to check and store a round's pushes (rounds with pushes)",
            m.push_seconds.clone(),
        );
        registry.register(
            "bianmin_blob_received_bytes",
            "Attachment bytes received in upload bodies",
            m.blob_received.clone(),
        );
        registry.register(
            "bianmin_blob_sent_bytes",
            "Attachment bytes sent in downloads to devices",
            m.blob_sent.clone(),
        );
        registry.register(
            "bianmin_event_streams_open",
            "Live event streams open now",
            m.streams_open.clone(),
        );
        registry.register(
            "bianmin_storage_documents",
            "Documents stored (read from the storage at most every 5 s)",
            m.documents.clone(),
        );
        registry.register(
            "bianmin_storage_changes",
            "Change log entries stored (read from the storage at most every 5 s)",
            m.changes.clone(),
        );
        registry.register(
            "bianmin_storage_connections",
            "The database connections of this process's pool, by state (in_use, idle); \
             PostgreSQL only",
            m.connections.clone(),
        );
        registry.register(
            "bianmin_storage_connections_max",
            "The most connections this process's database pool opens; PostgreSQL only",
            m.connections_max.clone(),
        );
        registry.register(
            "bianmin_draining",
            "1 once shutdown has begun (readyz answers 503), else 0",
            m.draining.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts an answered request of a route group.
    fn request(&self, group: &'static str, status: StatusCode) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels { group, class })
            .inc();
    }

    /// Counts a sync round the engine answered: its pushed documents by result, and (for a
    /// round with pushes) the time the engine took over them, as [`timing_pushes`] gave it.
    pub fn sync_round(&self, res: &SyncResponse, push_time: Option<Duration>) {
        self.rounds.inc();
        for result in &res.results {
            match result {
                PushResult::Accepted { .. } => self.accepted.inc(),
                PushResult::Refused { code, .. } => self
                    .refused
                    .get_or_create(&RefusalLabels {
                        code: refusal_code(code),
                    })
                    .inc(),
            };
        }
        if let Some(took) = push_time.filter(|_| !res.results.is_empty()) {
            self.push_seconds.observe(took.as_secs_f64());
        }
    }

    /// Counts attachment bytes received in an upload body.
    pub fn blob_received(&self, bytes: usize) {
        self.blob_received.inc_by(bytes as u64);
    }

    /// A download's answer whose body bytes are counted as they are sent (errors are not).
    pub fn count_sent(&self, res: Response) -> Response {
        if !res.status().is_success() {
            return res;
        }
        let sent = self.blob_sent.clone();
        res.map(|body| {
            Body::from_stream(body.into_data_stream().inspect(move |chunk| {
                if let Ok(bytes) = chunk {
                    sent.inc_by(bytes.len() as u64);
                }
            }))
        })
    }

    /// An event stream counted as open while it lives, and ended once shutdown begins (so
    /// that a drain is not held up by streams that never end; the device connects again).
    pub fn live_stream<S: Stream>(&self, stream: S) -> impl Stream<Item = S::Item> + use<S> {
        let open = OpenStream::new(self.streams_open.clone());
        stream.take_until(self.shutdown_begun()).map(move |item| {
            let _open = &open;
            item
        })
    }

    /// Marks the hub as shutting down: `/readyz` answers 503 from now on, event streams end.
    pub fn begin_shutdown(&self) {
        self.draining.set(1);
        self.shutdown.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Completes once shutdown has begun.
    pub fn shutdown_begun(&self) -> impl Future<Output = ()> + use<> {
        let mut rx = self.shutdown.subscribe();
        async move {
            // The sender lives as long as the metrics: an error means they are gone.
            let _ = rx.wait_for(|begun| *begun).await;
        }
    }

    /// Sets the pool gauges from the storage's pool now (nothing without a pool).
    fn pool(&self, now: Option<Connections>) {
        let Some(now) = now else { return };
        for (state, n) in [("in_use", now.in_use), ("idle", now.idle)] {
            self.connections
                .get_or_create(&ConnectionLabels { state })
                .set(i64::from(n));
        }
        self.connections_max.set(i64::from(now.max));
    }

    /// Reads the storage figures if the last read is older than [`STORAGE_REFRESH`] and no
    /// read is under way, waiting at most [`STORAGE_WAIT`] for it.
    async fn refresh_storage(&self, storage: &Arc<dyn Storage>) {
        let Ok(mut read_at) = self.storage_read_at.try_lock() else {
            return;
        };
        if read_at.is_some_and(|at| at.elapsed() < STORAGE_REFRESH) {
            return;
        }
        let Some(reading) = Busy::start(&self.storage_reading) else {
            return;
        };
        *read_at = Some(Instant::now());
        let storage = storage.clone();
        let read = tokio::task::spawn_blocking(move || {
            let _reading = reading;
            storage.counts()
        });
        match tokio::time::timeout(STORAGE_WAIT, read).await {
            Ok(Ok(Ok((documents, changes)))) => {
                self.documents
                    .set(i64::try_from(documents).unwrap_or(i64::MAX));
                self.changes.set(i64::try_from(changes).unwrap_or(i64::MAX));
            }
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %e, "metrics: reading the storage's counts failed")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics: reading the storage's counts failed")
            }
            Err(_) => tracing::warn!(
                "metrics: the storage's counts took longer than {STORAGE_WAIT:?}; the last figures stand"
            ),
        }
    }

    /// The metrics in the Prometheus text format.
    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The label value of a refusal code: its own name if it is a known code, else `other` (the
/// label set stays bounded whatever a future engine answers).
fn refusal_code(code: &str) -> &'static str {
    REFUSAL_CODES
        .into_iter()
        .find(|known| *known == code)
        .unwrap_or("other")
}

/// The route group of a matched route (`None`: no route matched).
fn route_group(route: Option<&str>) -> &'static str {
    let Some(route) = route else {
        return "other";
    };
    match route {
        "/api/v1/sync" => "sync",
        "/api/v1/events" => "events",
        "/api/v1/enrol" => "enrol",
        r if r.starts_with("/api/v1/blobs/") => "blobs",
        r if r == "/console" || r.starts_with("/console/") => "console",
        r if r == "/public"
            || r.starts_with("/public/")
            || r.starts_with("/api/v1/public/")
            || r.starts_with("/open311")
            || r == "/lookup" =>
        {
            "public"
        }
        _ => "other",
    }
}

/// An open event stream: counted up when made, down when dropped.
struct OpenStream(Gauge);

impl OpenStream {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        OpenStream(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One blocking storage call of a kind at a time: a storage that hangs holds one thread, not
/// one per probe or scrape.
struct Busy(Arc<AtomicBool>);

impl Busy {
    fn start(flag: &Arc<AtomicBool>) -> Option<Busy> {
        flag.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Busy(flag.clone()))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

thread_local! {
    /// The time the engine took over the pushes of the round running on this thread.
    static PUSH_TIME: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// Called by the engine once a round's pushes are checked and stored: the time they took (read
/// by [`timing_pushes`] around the round, on the same thread).
pub fn pushes_took(time: Duration) {
    PUSH_TIME.set(Some(time));
}

/// Runs a sync round (blocking, on this thread) and returns its result with the time the
/// engine reported for its pushes through [`pushes_took`] (`None` if it reported none).
pub fn timing_pushes<T>(round: impl FnOnce() -> T) -> (T, Option<Duration>) {
    PUSH_TIME.set(None);
    let result = round();
    (result, PUSH_TIME.take())
}

/// `GET /metrics`: the metrics in the Prometheus text format.
pub async fn scrape(State(state): State<AppState>) -> Result<Response, AppError> {
    state.metrics.refresh_storage(&state.storage).await;
    state.metrics.pool(state.storage.connections());
    let text = state.metrics.encode().map_err(AppError::internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
        )],
        text,
    )
        .into_response())
}

/// Why the hub is not ready: `503` with a short plain reason.
#[derive(Debug)]
pub struct NotReady(&'static str);

impl IntoResponse for NotReady {
    fn into_response(self) -> Response {
        (StatusCode::SERVICE_UNAVAILABLE, self.0).into_response()
    }
}

/// `GET /readyz`: `ready` when the storage answers within [`STORAGE_WAIT`] and shutdown has
/// not begun; otherwise 503 with the reason. (`/healthz` only says the process answers.)
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, NotReady> {
    if state.metrics.is_shutting_down() {
        return Err(NotReady("shutting down"));
    }
    let probing = Busy::start(&state.metrics.probing)
        .ok_or(NotReady("the previous storage check has not finished"))?;
    let storage = state.storage.clone();
    let probe = tokio::task::spawn_blocking(move || {
        let _probing = probing;
        storage.log_id()
    });
    let answered = tokio::time::timeout(STORAGE_WAIT, probe)
        .await
        .map_err(|_| NotReady("the storage did not answer in time"))?;
    answered
        .map_err(|e| e.to_string())
        .and_then(|read| read.map_err(|e| e.to_string()))
        .map_err(|error| {
            tracing::warn!(%error, "readiness: the storage failed");
            NotReady("the storage failed")
        })?;
    Ok("ready")
}

/// The layer counting every answered request in `bianmin_http_requests_total` by the group of
/// its matched route (see [`ROUTE_GROUPS`]) and its status class.
#[derive(Clone, Debug)]
pub struct CountRequests(Arc<Metrics>);

impl CountRequests {
    /// Counts into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        CountRequests(metrics)
    }
}

impl<S> tower::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// A service whose answers are counted (see [`CountRequests`]).
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> tower::Service<Request<B>> for Counted<S>
where
    S: tower::Service<Request<B>, Response = axum::http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let group = route_group(
            req.extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str),
        );
        CountedFuture {
            inner: self.inner.call(req),
            group,
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of a [`Counted`] service, counted when it is ready.
    pub struct CountedFuture<F> {
        #[pin]
        inner: F,
        group: &'static str,
        metrics: Arc<Metrics>,
    }
}

impl<F> std::fmt::Debug for CountedFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountedFuture")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl<F, R, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<axum::http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &res {
            this.metrics.request(this.group, response.status());
        }
        Poll::Ready(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_groups() {
        let cases = [
            (Some("/api/v1/sync"), "sync"),
            (Some("/api/v1/blobs/{sha256}"), "blobs"),
            (Some("/api/v1/blobs/{sha256}/status"), "blobs"),
            (Some("/api/v1/events"), "events"),
            (Some("/api/v1/enrol"), "enrol"),
            (Some("/console"), "console"),
            (Some("/console/requests/{id}/{action}"), "console"),
            (Some("/public"), "public"),
            (Some("/public/villages/{code}"), "public"),
            (Some("/api/v1/public/villages/{code}/notices"), "public"),
            (Some("/lookup"), "public"),
            (Some("/healthz"), "other"),
            (Some("/metrics"), "other"),
            (Some("/consoles"), "other"),
            (None, "other"),
        ];
        for (route, group) in cases {
            assert_eq!(route_group(route), group, "{route:?}");
            assert!(ROUTE_GROUPS.contains(&group));
        }
    }

    /// Every code of the refusal table in `docs/sync-protocol.md` is counted by its name.
    #[test]
    fn every_documented_refusal_code_is_known() {
        let doc = include_str!("../../docs/sync-protocol.md");
        let table = doc
            .split_once("| code | what was wrong |")
            .expect("the refusal table")
            .1;
        let codes: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        assert!(codes.len() >= 10, "{codes:?}");
        for code in codes {
            assert_eq!(refusal_code(code), code, "{code} is counted as other");
        }
        assert_eq!(refusal_code("someone's-name"), "other");
    }

    #[test]
    fn pushes_are_timed_on_the_rounds_thread_only() {
        let (n, took) = timing_pushes(|| {
            pushes_took(Duration::from_millis(7));
            3
        });
        assert_eq!((n, took), (3, Some(Duration::from_millis(7))));
        // A round that reports nothing gets nothing, not the previous round's time.
        pushes_took(Duration::from_millis(9));
        assert_eq!(timing_pushes(|| ()).1, None);
    }

    #[test]
    fn the_text_names_every_family_and_counts_refusals_by_code() {
        let m = Metrics::new();
        m.request("sync", StatusCode::OK);
        m.request("other", StatusCode::NOT_FOUND);
        m.sync_round(
            &SyncResponse {
                protocol: bianmin_protocol::PROTOCOL_VERSION,
                results: vec![
                    PushResult::Accepted {
                        doc: uuid::Uuid::nil(),
                        heads: Vec::new(),
                        duplicates: 0,
                    },
                    PushResult::Refused {
                        doc: uuid::Uuid::nil(),
                        code: "forbidden".into(),
                        reason: "no".into(),
                        held: Vec::new(),
                    },
                    PushResult::Refused {
                        doc: uuid::Uuid::nil(),
                        code: "new_code_from_a_later_engine".into(),
                        reason: "no".into(),
                        held: Vec::new(),
                    },
                ],
                pull: Vec::new(),
                cursor: 0,
                more: false,
                reference: None,
                log: None,
            },
            Some(Duration::from_millis(20)),
        );
        m.begin_shutdown();
        let text = m.encode().unwrap();
        for line in [
            "bianmin_http_requests_total{group=\"sync\",class=\"2xx\"} 1",
            "bianmin_http_requests_total{group=\"other\",class=\"4xx\"} 1",
            "bianmin_sync_rounds_total 1",
            "bianmin_sync_documents_accepted_total 1",
            "bianmin_sync_documents_refused_total{code=\"forbidden\"} 1",
            "bianmin_sync_documents_refused_total{code=\"other\"} 1",
            "bianmin_sync_documents_refused_total{code=\"schema\"} 0",
            "bianmin_sync_push_duration_seconds_count 1",
            "bianmin_sync_push_duration_seconds_bucket{le=\"0.025\"} 1",
            "bianmin_sync_push_duration_seconds_bucket{le=\"0.01\"} 0",
            "bianmin_event_streams_open 0",
            "bianmin_draining 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
