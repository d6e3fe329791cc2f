//! Serving the hub's router on a TCP listener with the connection limits of [`Limits`]: a cap
//! on open connections in all and per client address, a time-out for reading request headers
//! (which also closes idle kept-alive connections), and a graceful end on shutdown (a drain
//! during which the hub still answers, `/readyz` with 503). The
//! per-request time-outs and body limits are layers of [`crate::app`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Layer;

use crate::limits::Limits;

/// How long open connections get to finish after shutdown was asked for.
pub const DRAIN: Duration = Duration::from_secs(10);

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of a client; dropping it frees the place.
struct Place {
    clients: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Place> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Place {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then drains: every open
/// connection finishes the request it is in (an idle one is closed), while the listener still
/// accepts, so that a load balancer's probe of `/readyz` gets its 503 rather than a refused
/// connection; connections accepted then answer one request each. Once the connections open
/// at shutdown are done (or after [`DRAIN`]), the listener closes and the rest get what is left
/// of [`DRAIN`]. Connections from `trusted_proxies` are not capped per client.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    trusted_proxies: &[IpAddr],
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = Acceptor {
        listener,
        all: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        clients: Arc::new(PerClient::default()),
        per_client: limits.max_connections_per_client,
        trusted_proxies,
    };
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    let open = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (stream, peer, held) = acceptor.next() => {
                start(&builder, &open, &router, stream, peer, held);
            }
            () = &mut shutdown => break,
        }
    }
    // Draining: new connections answer one request and close.
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut one_request = builder.clone();
    one_request.http1().keep_alive(false);
    let late = GracefulShutdown::new();
    let earlier = tokio::time::timeout_at(deadline, open.shutdown());
    tokio::pin!(earlier);
    let mut finished = loop {
        tokio::select! {
            done = &mut earlier => break done.is_ok(),
            (stream, peer, held) = acceptor.next() => {
                start(&one_request, &late, &router, stream, peer, held);
            }
        }
    };
    drop(acceptor);
    finished &= tokio::time::timeout_at(deadline, late.shutdown())
        .await
        .is_ok();
    if !finished {
        tracing::warn!("connections still open {DRAIN:?} after shutdown; closing them");
    }
}

/// What an accepted connection holds until it closes: its place among all connections and
/// among its client's.
type Held = (OwnedSemaphorePermit, Option<Place>);

/// Accepts connections within the limits.
struct Acceptor<'a> {
    listener: TcpListener,
    all: Arc<Semaphore>,
    clients: Arc<PerClient>,
    per_client: usize,
    trusted_proxies: &'a [IpAddr],
}

impl Acceptor<'_> {
    /// The next connection within the limits: waits for a free place, then for a client
    /// (closing those over their address's cap). Cancel-safe.
    async fn next(&self) -> (TcpStream, SocketAddr, Held) {
        loop {
            let Ok(permit) = self.all.clone().acquire_owned().await else {
                // The semaphore is never closed; should it be, accept nothing more.
                return std::future::pending().await;
            };
            let (stream, peer) = match self.listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let ip = peer.ip().to_canonical();
            let place = if self.trusted_proxies.contains(&ip) {
                None
            } else {
                match self.clients.take(ip, self.per_client) {
                    Some(p) => Some(p),
                    None => {
                        tracing::warn!(client = %ip, "connection refused: too many open from this address");
                        continue;
                    }
                }
            };
            return (stream, peer, (permit, place));
        }
    }
}

/// Serves one connection on its own task, watched by `graceful`.
fn start(
    builder: &Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    router: &Router,
    stream: TcpStream,
    peer: SocketAddr,
    held: Held,
) {
    // With the peer address, as `into_make_service_with_connect_info` gives it.
    let service = Extension(ConnectInfo(peer)).layer(router.clone());
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
        .into_owned();
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        // A client that goes away or times out ends its connection; nothing to report.
        let _ = conn.await;
        drop(held);
    });
}
