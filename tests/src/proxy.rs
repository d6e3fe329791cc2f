//! A TCP proxy in front of a hub that can cut a sync round off: the request reaches the hub,
//! the hub handles it, but the device never sees the answer (a mobile link that drops just as
//! the response starts coming back).
//!
//! Plain `std::net`, one thread per connection and direction. When armed, the first bytes of
//! the next response coming back from the hub (on any connection) are not forwarded: both sides
//! of that connection are closed instead. Since the hub writes a response only after its
//! handler returned, the request has been fully handled by then.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// A proxy listening on a loopback port, forwarding to `upstream`.
#[derive(Debug)]
pub struct CutProxy {
    /// Its base URL, `http://127.0.0.1:PORT`: enrol devices with this.
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Cut the next response off.
    armed: AtomicBool,
    /// Responses cut off so far.
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
}

impl CutProxy {
    /// Starts a proxy to the hub listening at `upstream`.
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
                accept_shared.connections.fetch_add(1, Ordering::SeqCst);
                let shared = accept_shared.clone();
                thread::spawn(move || relay(client, upstream, &shared));
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

    /// How many responses (or connections, with [`CutProxy::cut_connections_after`]) were cut
    /// off so far.
    pub fn cuts(&self) -> usize {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// From now on, closes every connection once `bytes` went through it (0: never).
    pub fn cut_connections_after(&self, bytes: usize) {
        self.shared.cut_after.store(bytes, Ordering::SeqCst);
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
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay(client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) {
    let Ok(hub) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = hub.set_nodelay(true);
    let (Ok(mut from_client), Ok(mut to_hub)) = (client.try_clone(), hub.try_clone()) else {
        return;
    };
    // Bytes through this connection, both directions, for `cut_after`.
    let through = Arc::new(AtomicUsize::new(0));
    let over_budget = |through: &AtomicUsize, n: usize, shared: &Shared| {
        let limit = shared.cut_after.load(Ordering::SeqCst);
        limit > 0 && through.fetch_add(n, Ordering::SeqCst) + n > limit
    };
    // Device -> hub: forwarded in full unless the connection's byte budget runs out.
    let up_shared = shared.clone();
    let up_through = through.clone();
    let (Ok(up_client), Ok(up_hub)) = (client.try_clone(), hub.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if over_budget(&up_through, n, &up_shared) {
                up_shared.cuts.fetch_add(1, Ordering::SeqCst);
                let _ = up_client.shutdown(Shutdown::Both);
                let _ = up_hub.shutdown(Shutdown::Both);
                return;
            }
            if to_hub.write_all(&buf[..n]).is_err() {
                break;
            }
            up_shared.up.fetch_add(n, Ordering::SeqCst);
        }
        let _ = to_hub.shutdown(Shutdown::Write);
    });
    // Hub -> device: forwarded unless a cut is armed when a response starts, or the
    // connection's byte budget runs out.
    let (mut from_hub, mut to_client) = (hub, client);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from_hub.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if shared.armed.swap(false, Ordering::SeqCst) {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if over_budget(&through, n, shared) {
            shared.cuts.fetch_add(1, Ordering::SeqCst);
            break;
        }
        if to_client.write_all(&buf[..n]).is_err() {
            break;
        }
        shared.down.fetch_add(n, Ordering::SeqCst);
    }
    let _ = to_client.shutdown(Shutdown::Both);
    let _ = from_hub.shutdown(Shutdown::Both);
}
