//! Live notices: the hub's event stream (`GET /api/v1/events`), which tells a device that
//! something in its scope changed so that it syncs at once rather than on a timer.
//!
//! [`watch`] holds one connection; [`keep_watching`] holds one for as long as it is asked to,
//! connecting again (with a growing, jittered wait) whenever the hub restarts or the link drops
//! or goes silent, and asking for a sync after each connection since notices sent while it was
//! away were missed.

use std::io::BufRead;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::Store;
use crate::client::{SyncError, agent, lock, pause};

/// How long `watch` waits without a byte from the hub (it sends a keep-alive every 15 s)
/// before it takes the link for dead.
pub const WATCH_IDLE: Duration = Duration::from_secs(45);

/// The longest wait of [`keep_watching`] between two connections.
pub const RECONNECT_MAX: Duration = Duration::from_secs(60);

/// A connection that lasted this long was a working one: the next wait starts short again.
const HELD: Duration = Duration::from_secs(60);

/// Listens for the hub's live notices until `stop` is set or the connection ends, calling
/// `on_change` whenever something in this device's scope changed (the caller then syncs). A
/// link that goes silent (half-open: no keep-alive for [`WATCH_IDLE`]) ends it with an error,
/// so the caller can connect again instead of waiting forever. `stop` is seen within a second.
pub fn watch(
    store: &Mutex<Store>,
    stop: &AtomicBool,
    on_change: &mut dyn FnMut(),
) -> Result<(), SyncError> {
    let (url, token) = lock(store)?.server()?.ok_or(SyncError::NotEnrolled)?;
    let resp = agent(WATCH_IDLE)
        .get(&format!("{url}/api/v1/events"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "text/event-stream")
        .call()
        .map_err(|e| SyncError::Network(e.to_string()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(SyncError::Hub {
            status,
            code: "events_refused".into(),
            message: format!("HTTP {status}"),
        });
    }
    // Lines come through a channel from a reading thread, so that `stop` is seen within a
    // second; the thread ends when the connection does, or when a read waits longer than
    // [`WATCH_IDLE`] (the agent's per-read limit).
    let (lines, heard) = std::sync::mpsc::channel();
    let reader = std::io::BufReader::new(resp.into_body().into_reader());
    std::thread::spawn(move || {
        for line in reader.lines() {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut event = String::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let line = match heard.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(lost(e)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        };
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_string();
        } else if line.is_empty() {
            if event == "changes" {
                on_change();
            }
            event.clear();
        }
    }
}

/// Why a live connection broke, as the clerk reads it.
fn lost(e: std::io::Error) -> SyncError {
    let e = ureq::Error::from(e);
    if matches!(e, ureq::Error::Timeout(_)) {
        return SyncError::Network(format!(
            "nothing from the hub for {} s, not even its keep-alive: the link is down",
            WATCH_IDLE.as_secs()
        ));
    }
    SyncError::Network(format!("the live connection to the hub broke: {e}"))
}

/// [`watch`] until `stop` is set, connecting again whenever the connection ends or breaks.
///
/// `on_change` runs on each notice, and before each connection but the first (to catch up on
/// what was missed while away, and to push what was done meanwhile). After a connection that ends, `on_lost`
/// hears why and how long the wait before the next one is: `first_wait`, doubled after each
/// connection that did not hold for a minute, up to [`RECONNECT_MAX`], plus up to half again
/// at random so that tablets cut off together do not all come back in the same instant.
/// Returns early only with an answer that connecting again would not change: the device is
/// not enrolled, or the hub refuses it (revoked, unknown token).
pub fn keep_watching(
    store: &Mutex<Store>,
    stop: &AtomicBool,
    first_wait: Duration,
    on_change: &mut dyn FnMut(),
    on_lost: &mut dyn FnMut(&SyncError, Duration),
) -> Result<(), SyncError> {
    let mut wait = first_wait;
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        if !std::mem::take(&mut first) {
            on_change();
        }
        let since = Instant::now();
        let why = match watch(store, stop, on_change) {
            Ok(()) if stop.load(Ordering::Relaxed) => return Ok(()),
            Ok(()) => SyncError::Network("the hub closed the live connection".into()),
            Err(e) if final_answer(&e) => return Err(e),
            Err(e) => e,
        };
        if since.elapsed() >= HELD {
            wait = first_wait;
        }
        let pause = pause(wait, None);
        on_lost(&why, pause);
        sleep_unless_stopped(pause, stop);
        wait = (wait * 2).min(RECONNECT_MAX);
    }
    Ok(())
}

/// Whether connecting again could not help: not enrolled, a store failure, or the hub refusing
/// this device (`401`, `403`); a busy or restarting hub (`429`, `5xx`) is worth another try.
fn final_answer(e: &SyncError) -> bool {
    match e {
        SyncError::Network(_) => false,
        SyncError::Hub { status, .. } => matches!(status, 400..=499) && *status != 429,
        SyncError::NotEnrolled | SyncError::Store(_) => true,
    }
}

/// Sleeps `total`, waking each 100 ms to see whether `stop` was set.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
