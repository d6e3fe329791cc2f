//! A TCP proxy in front of a hub that behaves like a village's mobile link: it can cut a sync
//! round off (the request reaches the hub, the hub handles it, but the device never sees the
//! answer), limit the bandwidth, add latency, close every connection after a byte budget, and
//! drop the whole link for a while.
//!
//! Plain `std::net` and threads. Each connection has, per direction, a reader that takes bytes
//! off one socket and a writer that puts them on the other: between the two runs a delay line
//! (a channel of pieces, each with the moment it may be written), so latency delays the bytes
//! without stalling the reader, as on a real link where many bytes are in flight at once.
//!
//! - **Cut the next response** ([`CutProxy::cut_next_response`]): the first bytes of the next
//!   response coming back from the hub (on any connection) are not forwarded; both sides of that
//!   connection are closed instead. Since the hub writes a response only after its handler
//!   returned, the request has been fully handled by then.
//! - **Bandwidth** ([`CutProxy::limit`]): each direction carries at most the given bits per
//!   second, shared by all connections (one radio link). The reader takes small pieces (1 to
//!   4 KiB) and waits for each piece's turn on the link before passing it on, so that over any
//!   second no more than the budget (plus at most one piece) goes through; the sender feels this
//!   as a full socket, as it would on the real link.
//! - **Latency** ([`CutProxy::latency`]): every piece is written that long after it went on the
//!   link; a new connection also waits one round trip before its first byte goes through, like
//!   TCP's handshake on the real link.
//! - **A cut after N bytes** ([`CutProxy::cut_connections_after`]): once N bytes (both
//!   directions together) went through a connection it is closed, after those N bytes arrived.
//! - **A drop** ([`CutProxy::drop_for`]): every open connection is closed at once (what was in
//!   flight is lost) and, until the link returns, new connections are accepted and closed.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// A proxy listening on a loopback port, forwarding to `upstream`.
#[derive(Debug)]
pub struct CutProxy {
    /// Its base URL, `http://127.0.0.1:PORT`: enrol devices with this.
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

/// An HTTP request the proxy passed on to the hub (its head went through in full): what a test
/// reads to see which exchanges a tablet made, e.g. from which offset each upload went on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// When its head reached the hub.
    pub at: Instant,
    /// The connection it came on (numbered from 1 in the order accepted).
    pub connection: usize,
    /// `GET`, `PUT`, `POST`, ...
    pub method: String,
    /// The path and query, e.g. `/api/v1/blobs/<sha>?offset=0`.
    pub target: String,
    /// The body's length as announced (`Content-Length`; 0 without one).
    pub content_length: u64,
}

/// Which way bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Device -> hub.
    Up = 0,
    /// Hub -> device.
    Down = 1,
}

#[derive(Debug, Default)]
struct Shared {
    /// Cut the next response off.
    armed: AtomicBool,
    /// Connections cut so far (each counted once, whatever cut it).
    cuts: AtomicUsize,
    /// Connections accepted so far.
    connections: AtomicUsize,
    /// When non-zero, every connection is closed once this many bytes (both directions
    /// together) went through it: a link that keeps dropping.
    cut_after: AtomicUsize,
    /// Bytes forwarded device -> hub and hub -> device, over all connections.
    up: AtomicUsize,
    down: AtomicUsize,
    stop: AtomicBool,
    /// Bits per second each direction carries; 0: no limit.
    limit: AtomicU64,
    /// One-way latency, in microseconds.
    latency_us: AtomicU64,
    /// Per direction, when the link is free for the next piece: the pacing is shared by all
    /// connections, as they share one radio link.
    free_at: [Mutex<Option<Instant>>; 2],
    /// The open connections and the drop, under one lock so that no connection slips in
    /// between a drop's start and its closing of every open connection.
    live: Mutex<Live>,
    /// The requests passed on to the hub, in order.
    requests: Mutex<Vec<SeenRequest>>,
    /// While set and in the future, the link is half-open: connections stay up, no byte moves.
    stalled_until: Mutex<Option<Instant>>,
}

#[derive(Debug, Default)]
struct Live {
    /// While set and in the future, the link is down.
    dropped_until: Option<Instant>,
    conns: HashMap<usize, Arc<Conn>>,
}

impl Live {
    fn dropped(&self) -> bool {
        self.dropped_until
            .is_some_and(|until| Instant::now() < until)
    }
}

/// A poisoned lock only means another relay thread panicked: its data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::SeqCst))
    }

    fn dropped(&self) -> bool {
        lock(&self.live).dropped()
    }

    fn stalled(&self) -> bool {
        lock(&self.stalled_until).is_some_and(|until| Instant::now() < until)
    }

    /// Holds a piece back while the link is stalled (it goes on once the stall ends, as TCP
    /// would send it again), unless the connection closes meanwhile.
    fn wait_out_stall(&self, conn: &Conn) {
        while self.stalled() && !conn.closed.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// How much one read takes off a socket: small pieces on a limited link, so that the pacing
    /// is smooth (about an eighth of a second's budget, 1 to 4 KiB).
    fn piece(&self) -> usize {
        match self.limit.load(Ordering::SeqCst) {
            0 => 64 * 1024,
            bits => ((bits / 64) as usize).clamp(1024, 4096),
        }
    }

    /// Puts `n` bytes on the link in direction `dir`: waits until the link has carried them
    /// at its bandwidth after whatever went before, and returns when that is.
    fn pace(&self, dir: Dir, n: usize) -> Instant {
        let now = Instant::now();
        let bits = self.limit.load(Ordering::SeqCst);
        if bits == 0 || n == 0 {
            return now;
        }
        let cost = Duration::from_nanos(n as u64 * 8 * 1_000_000_000 / bits);
        let done = {
            let mut free = lock(&self.free_at[dir as usize]);
            let start = free.map_or(now, |f| f.max(now));
            let done = start + cost;
            *free = Some(done);
            done
        };
        sleep_until(done);
        done
    }

    fn counter(&self, dir: Dir) -> &AtomicUsize {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// One proxied connection: both sockets (so that a cut or a drop can close it from anywhere)
/// and its byte count.
#[derive(Debug)]
struct Conn {
    number: usize,
    client: TcpStream,
    hub: TcpStream,
    /// Bytes through this connection, both directions, for `cut_after`.
    through: AtomicUsize,
    /// Closed (cut, or ended): nothing more is written.
    closed: AtomicBool,
    /// Cut: counted once.
    cut: AtomicBool,
}

impl Conn {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.hub.shutdown(Shutdown::Both);
    }

    fn cut(&self, shared: &Shared) {
        if !self.cut.swap(true, Ordering::SeqCst) {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
        }
        self.close();
    }

    /// How many of `n` bytes just read may still go through before the byte budget runs out,
    /// and whether it ran out.
    fn allowance(&self, n: usize, shared: &Shared) -> (usize, bool) {
        let limit = shared.cut_after.load(Ordering::SeqCst);
        let before = self.through.fetch_add(n, Ordering::SeqCst);
        if limit == 0 || before + n <= limit {
            (n, false)
        } else {
            (limit.saturating_sub(before), true)
        }
    }
}

/// What a reader hands its writer: bytes, or the end of the stream, each with the moment it
/// arrives at the other end.
enum Piece {
    Data(Instant, Vec<u8>),
    /// The byte budget ran out: close the connection once the bytes before this arrived.
    Cut(Instant),
    /// The sender finished (or went away).
    End(Instant),
}

impl CutProxy {
    /// Starts a proxy to the hub listening at `upstream`: no limit, no latency, no cuts until
    /// set.
    pub fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let number = accept_shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
                if accept_shared.dropped() {
                    // The link is down: the device's connection dies at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let shared = accept_shared.clone();
                thread::spawn(move || relay(number, client, upstream, &shared));
            }
        });
        CutProxy {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// Arms the proxy: the next response from the hub is cut off (its connection closed
    /// without a byte of it reaching the device).
    pub fn cut_next_response(&self) {
        self.shared.armed.store(true, Ordering::SeqCst);
    }

    /// Whether an armed cut is still waiting for a response.
    pub fn armed(&self) -> bool {
        self.shared.armed.load(Ordering::SeqCst)
    }

    /// Disarms the proxy without cutting anything.
    pub fn disarm(&self) {
        self.shared.armed.store(false, Ordering::SeqCst);
    }

    /// How many responses (or connections, with [`CutProxy::cut_connections_after`] and
    /// [`CutProxy::drop_for`]) were cut off so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// From now on, closes every connection once `bytes` went through it (0: never).
    pub fn cut_connections_after(&self, bytes: usize) -> &Self {
        self.shared.cut_after.store(bytes, Ordering::SeqCst);
        self
    }

    /// From now on, each direction carries at most `bits_per_sec` (0: no limit).
    pub fn limit(&self, bits_per_sec: u64) -> &Self {
        self.shared.limit.store(bits_per_sec, Ordering::SeqCst);
        self
    }

    /// From now on, every byte arrives `one_way` after it went on the link.
    pub fn latency(&self, one_way: Duration) -> &Self {
        let micros = u64::try_from(one_way.as_micros()).unwrap_or(u64::MAX);
        self.shared.latency_us.store(micros, Ordering::SeqCst);
        self
    }

    /// Drops the link for `duration` from now: every open connection is cut at once, and until
    /// the link returns every new connection is accepted and closed. Returns when it returns.
    pub fn drop_for(&self, duration: Duration) -> Instant {
        let until = Instant::now() + duration;
        let open: Vec<Arc<Conn>> = {
            let mut live = lock(&self.shared.live);
            live.dropped_until = Some(until);
            live.conns.values().cloned().collect()
        };
        for conn in open {
            conn.cut(&self.shared);
        }
        until
    }

    /// Stalls the link for `duration` from now, a half-open link: every connection stays open
    /// and new ones are accepted, but no byte moves either way until it ends (then the held
    /// bytes go on).
    pub fn stall_for(&self, duration: Duration) -> &Self {
        *lock(&self.shared.stalled_until) = Some(Instant::now() + duration);
        self
    }

    /// Ends a stall at once.
    pub fn end_stall(&self) -> &Self {
        *lock(&self.shared.stalled_until) = None;
        self
    }

    /// Whether the link is stalled (see [`CutProxy::stall_for`]).
    pub fn stalled(&self) -> bool {
        self.shared.stalled()
    }

    /// Whether the link is down (see [`CutProxy::drop_for`]).
    pub fn dropped(&self) -> bool {
        self.shared.dropped()
    }

    /// Bytes forwarded device -> hub and hub -> device so far (headers included).
    pub fn bytes(&self) -> (usize, usize) {
        (
            self.shared.up.load(Ordering::SeqCst),
            self.shared.down.load(Ordering::SeqCst),
        )
    }

    /// How many connections the proxy accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Every HTTP request whose head the proxy passed on to the hub so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        lock(&self.shared.requests).clone()
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay(number: usize, client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) {
    let Ok(hub) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = hub.set_nodelay(true);
    let (Ok(c), Ok(h)) = (client.try_clone(), hub.try_clone()) else {
        return;
    };
    let conn = Arc::new(Conn {
        number,
        client: c,
        hub: h,
        through: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        cut: AtomicBool::new(false),
    });
    {
        let mut live = lock(&shared.live);
        if live.dropped() {
            conn.close();
            return;
        }
        live.conns.insert(number, conn.clone());
    }
    // The handshake's round trip on the real link.
    let latency = shared.latency();
    if !latency.is_zero() {
        thread::sleep(latency * 2);
    }
    let up = match (client.try_clone(), hub.try_clone()) {
        (Ok(from), Ok(to)) => {
            let (conn, shared) = (conn.clone(), shared.clone());
            Some(thread::spawn(move || {
                pump(Dir::Up, from, to, &conn, &shared)
            }))
        }
        _ => None,
    };
    if up.is_some() {
        pump(Dir::Down, hub, client, &conn, shared);
    } else {
        conn.close();
    }
    if let Some(up) = up {
        let _ = up.join();
    }
    lock(&shared.live).conns.remove(&number);
}

/// Reads one direction of a connection and feeds its delay line, until the sender finishes or
/// the connection is cut.
fn pump(dir: Dir, mut from: TcpStream, to: TcpStream, conn: &Arc<Conn>, shared: &Arc<Shared>) {
    // Bounded, so that an unlimited link still pushes back on a sender far ahead of its reader;
    // far more than a weak link's bytes in flight, so that latency never stalls the reader.
    let (tx, rx) = mpsc::sync_channel::<Piece>(256);
    let writer = {
        let (conn, shared) = (conn.clone(), shared.clone());
        thread::spawn(move || deliver(dir, rx, to, &conn, &shared))
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let piece = shared.piece();
        let n = match from.read(&mut buf[..piece]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if shared.dropped() || (dir == Dir::Down && shared.armed.swap(false, Ordering::SeqCst)) {
            conn.cut(shared);
            break;
        }
        let (allowed, over) = conn.allowance(n, shared);
        let arrives = shared.pace(dir, allowed) + shared.latency();
        if allowed > 0
            && tx
                .send(Piece::Data(arrives, buf[..allowed].to_vec()))
                .is_err()
        {
            break;
        }
        if over {
            let _ = tx.send(Piece::Cut(arrives));
            break;
        }
    }
    let _ = tx.send(Piece::End(Instant::now() + shared.latency()));
    drop(tx);
    let _ = writer.join();
}

/// Writes one direction's pieces when they are due, counting them; closes the connection when
/// a cut or the end comes through.
fn deliver(dir: Dir, rx: mpsc::Receiver<Piece>, mut to: TcpStream, conn: &Conn, shared: &Shared) {
    let mut heads = HeadReader::default();
    for piece in rx {
        match piece {
            Piece::Data(due, bytes) => {
                sleep_until(due);
                shared.wait_out_stall(conn);
                if conn.closed.load(Ordering::SeqCst) || to.write_all(&bytes).is_err() {
                    conn.close();
                    return;
                }
                shared.counter(dir).fetch_add(bytes.len(), Ordering::SeqCst);
                if dir == Dir::Up {
                    heads.feed(&bytes, &mut |method, target, content_length| {
                        lock(&shared.requests).push(SeenRequest {
                            at: Instant::now(),
                            connection: conn.number,
                            method: method.to_string(),
                            target: target.to_string(),
                            content_length,
                        });
                    });
                }
            }
            Piece::Cut(due) => {
                sleep_until(due);
                conn.cut(shared);
                return;
            }
            Piece::End(due) => {
                sleep_until(due);
                match dir {
                    // The device finished sending: the hub may still answer.
                    Dir::Up => {
                        let _ = to.shutdown(Shutdown::Write);
                    }
                    // The hub closed: so does the device's side.
                    Dir::Down => conn.close(),
                }
                return;
            }
        }
    }
}

/// Follows HTTP/1.1 requests in a device's byte stream (heads, then `Content-Length` bodies),
/// telling each request's method, target and announced body length once its head went
/// through. Gives up on a connection it cannot follow (a chunked body, a huge head).
#[derive(Debug)]
enum HeadReader {
    Head(Vec<u8>),
    Body(u64),
    Lost,
}

impl Default for HeadReader {
    fn default() -> Self {
        HeadReader::Head(Vec::new())
    }
}

impl HeadReader {
    const MAX_HEAD: usize = 64 * 1024;

    fn feed(&mut self, mut bytes: &[u8], seen: &mut dyn FnMut(&str, &str, u64)) {
        while !bytes.is_empty() {
            match self {
                HeadReader::Lost => return,
                HeadReader::Body(left) => {
                    let k = (*left).min(bytes.len() as u64);
                    *left -= k;
                    bytes = &bytes[k as usize..];
                    if *left == 0 {
                        *self = HeadReader::default();
                    }
                }
                HeadReader::Head(buf) => {
                    let before = buf.len();
                    buf.extend_from_slice(bytes);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if buf.len() > Self::MAX_HEAD {
                            *self = HeadReader::Lost;
                        }
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    bytes = &bytes[end + 4 - before..];
                    *self = HeadReader::after_head(&head, seen);
                }
            }
        }
    }

    /// Tells the request whose head is `head` and returns what follows it.
    fn after_head(head: &str, seen: &mut dyn FnMut(&str, &str, u64)) -> HeadReader {
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, target) = (
            first.next().unwrap_or_default(),
            first.next().unwrap_or_default(),
        );
        let mut length = 0;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        seen(method, target, length);
        if chunked {
            HeadReader::Lost
        } else if length > 0 {
            HeadReader::Body(length)
        } else {
            HeadReader::default()
        }
    }
}
