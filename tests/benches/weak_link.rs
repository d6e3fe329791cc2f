//! Weak links (issue 14), measured by hand, never in CI (no assertion on time):
//!
//! ```text
//! cargo bench -p bianmin-tests --bench weak_link
//! WEAK_REQUESTS=10 WEAK_PHOTOS=2 WEAK_MANY=30 WEAK_DROP_SECS=10 cargo bench -p bianmin-tests --bench weak_link
//! ```
//!
//! A real hub in this process and a clerk's tablet behind our loopback proxy shaped like a
//! village's mobile link (`bianmin_tests::weak_link`, the same scaffolding as
//! `tests/weak_link.rs`); the clerk runs `bianmin sync` again and again, as at the service point.
//! Four scenarios, run side by side (each its own hub and link; they wait on the link, not on
//! the processor), each printing its figures when it ends:
//!
//! - **return**: the link is down while the clerk files `WEAK_REQUESTS` requests (30), of which
//!   `WEAK_PHOTOS` (6) carry a photo of `WEAK_PHOTO_KB` KB (300); then it returns. Seconds from
//!   its return until every request is at the township (goal: at most 10 s at 64 kbit/s), and
//!   until every photo is; bytes sent up per photo byte; uploads restarted from zero (goal 0).
//! - **requests**: the same with `WEAK_MANY` requests (90) and no photos: seconds from the
//!   link's return until all are at the township, bytes per request on the wire (both ways,
//!   until the tablet heard the hub's answers; printed for **return** too).
//! - **mid-upload**: two photos uploading, the clerk files one more request: seconds until it
//!   is at the township, and how many photo bytes went up before it.
//! - **drop**: one photo; the link (no cuts here) drops for `WEAK_DROP_SECS` (30) when half of
//!   it went up: seconds from the return until the photo is complete, bytes sent per photo
//!   byte, restarts from zero, where the hub stood and where the upload went on from.
//!
//! The link: `WEAK_KBIT` (64) each way, `WEAK_LATENCY_MS` (300) one way, every connection cut
//! after `WEAK_CUT_KB` KB (200; 0 never). A scenario on which nothing more reaches the hub for
//! `WEAK_STALL_SECS` (180) or that runs past `WEAK_DEADLINE_SECS` (900) stops and says where
//! things stood. `WEAK_SCENARIOS` picks some, e.g. `return,drop`.
//!
//! Bytes are counted by the proxy (HTTP heads and bodies as they went over the link); restarts
//! from the requests it passed on (`PUT /api/v1/blobs/{sha}?offset=0` again after a first one).

use std::fmt::Write as _;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bianmin_tests::weak_link::{Clerk, Link, Village, upload_offsets, upload_restarts};

#[derive(Debug, Clone)]
struct Settings {
    link: Link,
    requests: usize,
    photos: usize,
    photo_bytes: usize,
    many: usize,
    drop: Duration,
    stall: Duration,
    deadline: Duration,
}

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let requests = env("WEAK_REQUESTS", 30) as usize;
        Settings {
            link: Link {
                bits_per_sec: env("WEAK_KBIT", 64) * 1000,
                latency: Duration::from_millis(env("WEAK_LATENCY_MS", 300)),
                cut_after: env("WEAK_CUT_KB", 200) as usize * 1000,
            },
            requests,
            photos: (env("WEAK_PHOTOS", 6) as usize).min(requests),
            photo_bytes: env("WEAK_PHOTO_KB", 300) as usize * 1000,
            many: env("WEAK_MANY", 90) as usize,
            drop: Duration::from_secs(env("WEAK_DROP_SECS", 30)),
            stall: Duration::from_secs(env("WEAK_STALL_SECS", 180)),
            deadline: Duration::from_secs(env("WEAK_DEADLINE_SECS", 900)),
        }
    }
}

/// Seconds from `from` to `to`, or why it never came.
fn secs(from: Instant, to: &Result<Instant, String>) -> String {
    match to {
        Ok(t) => format!("{:.1} s", t.saturating_duration_since(from).as_secs_f64()),
        Err(why) => format!("never ({why})"),
    }
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

/// How long the link is down while the clerk works, before it returns.
const OFFLINE: Duration = Duration::from_secs(10);

/// The link down while the clerk files `requests` requests, `photos` of them with a photo; the
/// figures from its return.
fn after_return(s: &Settings, name: &str, requests: usize, photos: usize) -> String {
    let mut out = String::new();
    let village = Village::start(s.link);
    let back = village.proxy.drop_for(OFFLINE);
    let clerk = Clerk::start(&village);
    let mut ids = village.file_requests(requests - photos);
    let (with_photos, shas) = village.file_with_photos(photos, s.photo_bytes, 1);
    ids.extend(&with_photos);
    let documents = village.unsent_document_bytes();
    thread::sleep(back.saturating_duration_since(Instant::now()));
    let (up0, down0) = village.proxy.bytes();
    let deadline = back + s.deadline;
    let all_requests = village.wait_until("every request", s.stall, deadline, |v| {
        v.requests_at_hub(&ids) == ids.len()
    });
    // The exchange is over once the tablet heard back (the hub's answers count too).
    let acknowledged = all_requests.clone().and_then(|_| {
        village.wait_until("the hub's answers", s.stall, deadline, |v| {
            v.tablet
                .lock()
                .unwrap()
                .pending_changes(1)
                .unwrap()
                .is_empty()
        })
    });
    let (up_r, down_r) = village.proxy.bytes();
    let all_photos = if all_requests.is_ok() && !shas.is_empty() {
        village.wait_until("every photo", s.stall, deadline, |v| {
            v.photos_at_hub(&shas) == shas.len()
        })
    } else {
        all_requests.clone()
    };
    let (up, down) = village.proxy.bytes();
    let (up, down) = ((up - up0) as u64, (down - down0) as u64);
    let seen = village.proxy.requests();
    let finished = acknowledged.is_ok() && all_photos.is_ok();
    let log = if finished {
        clerk.finish()
    } else {
        clerk.log()
    };
    let photo_bytes = (photos * s.photo_bytes) as u64;
    let _ = writeln!(
        out,
        "{name}: {requests} requests ({documents} B of changes), {photos} photos of {} B, \
         filed while the link was down",
        s.photo_bytes
    );
    let _ = writeln!(
        out,
        "  every request at the township {} after the link returned",
        secs(back, &all_requests)
    );
    if acknowledged.is_ok() {
        let n = requests as u64;
        let (up_r, down_r) = ((up_r - up0) as u64, (down_r - down0) as u64);
        let _ = writeln!(
            out,
            "  acknowledged on the tablet {}; bytes per request on the wire until then: {} up, \
             {} down, {} both",
            secs(back, &acknowledged),
            up_r / n,
            down_r / n,
            (up_r + down_r) / n
        );
    }
    if photos > 0 {
        let _ = writeln!(
            out,
            "  every photo at the township {} after the link returned",
            secs(back, &all_photos)
        );
        let _ = writeln!(
            out,
            "  bytes sent up per photo byte: {} ({up} B up, {down} B down)",
            ratio(up, photo_bytes)
        );
        let _ = writeln!(
            out,
            "  upload restarts from zero: {}",
            upload_restarts(&seen, &shas)
        );
    } else {
        let _ = writeln!(out, "  {up} B up, {down} B down");
    }
    let _ = writeln!(
        out,
        "  {} connections, {} cut; {} sync runs ({} failed), {} transfer runs ({} unfinished)",
        village.proxy.connections(),
        village.proxy.cuts(),
        log.syncs,
        log.failed_syncs,
        log.transfers,
        log.unfinished_transfers
    );
    out
}

/// Two photos uploading; the clerk files one more request.
fn mid_upload(s: &Settings) -> String {
    let mut out = String::new();
    let village = Village::start(s.link);
    let (_, shas) = village.file_with_photos(2, s.photo_bytes, 11);
    let clerk = Clerk::start(&village);
    let deadline = Instant::now() + s.deadline;
    let mut from = None;
    let under_way = village.wait_until("the photos to be under way", s.stall, deadline, |v| {
        if !clerk.transferring() {
            from = None;
            return false;
        }
        let up = v.proxy.bytes().0;
        up - *from.get_or_insert(up) >= 40_000
    });
    let _ = writeln!(
        out,
        "mid-upload: 2 photos of {} B uploading, one more request filed",
        s.photo_bytes
    );
    if let Err(why) = under_way {
        let _ = writeln!(out, "  the photos never got under way ({why})");
        return out;
    }
    let new = village.file_requests(1)[0];
    let filed = Instant::now();
    let (up0, _) = village.proxy.bytes();
    let arrived = village.wait_until("the new request", s.stall, deadline, |v| {
        v.request_arrived(new).is_some()
    });
    let up_then = (village.proxy.bytes().0 - up0) as u64;
    let photos_then = village.photos_at_hub(&shas);
    let _ = writeln!(
        out,
        "  the new request at the township {} after it was filed, {up_then} B up meanwhile, \
         {photos_then} of 2 photos complete by then",
        secs(filed, &arrived)
    );
    let photos = village.wait_until("both photos", s.stall, deadline, |v| {
        v.photos_at_hub(&shas) == shas.len()
    });
    let _ = writeln!(
        out,
        "  both photos complete {} after it was filed; upload restarts from zero: {}",
        secs(filed, &photos),
        upload_restarts(&village.proxy.requests(), &shas)
    );
    if arrived.is_ok() && photos.is_ok() {
        clerk.finish();
    }
    out
}

/// One photo; the link drops when half of it went up.
fn dropped(s: &Settings) -> String {
    let mut out = String::new();
    let village = Village::start(Link {
        cut_after: 0,
        ..s.link
    });
    let (ids, shas) = village.file_with_photos(1, s.photo_bytes, 21);
    let clerk = Clerk::start(&village);
    let deadline = Instant::now() + s.deadline;
    let _ = writeln!(
        out,
        "drop: one photo of {} B, the link (no cuts) down for {} s half way",
        s.photo_bytes,
        s.drop.as_secs()
    );
    let request = village.wait_until("the request", s.stall, deadline, |v| {
        v.requests_at_hub(&ids) == 1
    });
    if let Err(why) = request {
        let _ = writeln!(out, "  the request never arrived ({why})");
        return out;
    }
    let (up0, _) = village.proxy.bytes();
    let half = village.wait_until("half the photo to go up", s.stall, deadline, |v| {
        v.proxy.bytes().0 - up0 >= s.photo_bytes / 2
    });
    if let Err(why) = half {
        let _ = writeln!(out, "  half the photo never went up ({why})");
        return out;
    }
    let back = village.proxy.drop_for(s.drop);
    thread::sleep(back.saturating_duration_since(Instant::now()));
    let (held, _) = village.photo_at_hub(&shas[0]);
    let complete = village.wait_until("the photo", s.stall, deadline, |v| {
        v.photos_at_hub(&shas) == 1
    });
    let up = (village.proxy.bytes().0 - up0) as u64;
    let seen = village.proxy.requests();
    let after: Vec<u64> = upload_offsets(&seen, &shas[0])
        .into_iter()
        .filter(|(at, _)| *at >= back)
        .map(|(_, offset)| offset)
        .collect();
    let _ = writeln!(
        out,
        "  the photo complete {} after the link returned",
        secs(back, &complete)
    );
    let _ = writeln!(
        out,
        "  bytes sent up per photo byte: {} ({up} B from the photo's start)",
        ratio(up, s.photo_bytes as u64)
    );
    let _ = writeln!(
        out,
        "  the hub held {held} B when the link returned; uploads went on from offsets {after:?}; \
         restarts from zero: {}",
        upload_restarts(&seen, &shas)
    );
    if complete.is_ok() {
        clerk.finish();
    }
    out
}

fn main() {
    let s = Settings::from_env();
    let chosen = std::env::var("WEAK_SCENARIOS")
        .unwrap_or_else(|_| "return,requests,mid-upload,drop".into());
    let chosen: Vec<&str> = chosen.split(',').map(str::trim).collect();
    println!(
        "weak link: {} kbit/s each way, {} ms one way, connections cut after {} B{}",
        s.link.bits_per_sec / 1000,
        s.link.latency.as_millis(),
        s.link.cut_after,
        if s.link.cut_after == 0 {
            " (never)"
        } else {
            ""
        }
    );
    let started = Instant::now();
    type Scenario = fn(&Settings) -> String;
    let scenarios: [(&str, Scenario); 4] = [
        ("return", |s| {
            after_return(s, "return", s.requests, s.photos)
        }),
        ("requests", |s| after_return(s, "requests", s.many, 0)),
        ("mid-upload", mid_upload),
        ("drop", dropped),
    ];
    let s = Arc::new(s);
    let running: Vec<_> = scenarios
        .into_iter()
        .filter(|(name, _)| chosen.contains(name))
        .map(|(name, run)| {
            let s = s.clone();
            // Each scenario's figures as one block, as soon as it ends.
            (name, thread::spawn(move || print!("{}", run(&s))))
        })
        .collect();
    for (name, handle) in running {
        if handle.join().is_err() {
            println!("{name}: failed (see the panic above)");
        }
    }
    println!("all done in {:.0} s", started.elapsed().as_secs_f64());
}
