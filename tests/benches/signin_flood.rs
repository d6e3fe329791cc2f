//! Hub memory under an unauthenticated sign-in flood: `cargo bench -p bianmin-tests --bench
//! signin_flood` (set `FLOOD` for the number of concurrent sign-ins, 300 by default).
//!
//! Runs the release `bianmin-server` twice side by side in one run, on the demo data and
//! behind a "reverse proxy" (the bench sends each sign-in with its own `X-Forwarded-For`, so no
//! per-client limit helps and the bound shown is the password-hashing pool's): once with the
//! default pool (`--hash-workers` = the machine's cores, at least 2) and once with 64 workers,
//! about what the hub did before the pool (up to 512 blocking threads hashing at once). Each
//! flood is `FLOOD` sign-ins with random names, all sent at once; the figures are the hub's
//! resident memory before and at its peak, and how the sign-ins were answered.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Hub {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Hub {
    fn start(bin: &Path, hash_workers: usize) -> Hub {
        let dir = tempfile::tempdir().expect("data dir");
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = Command::new(bin)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["serve", "--demo", "--listen", &addr.to_string()])
            .args(["--trusted-proxy", "127.0.0.1"])
            .args(["--hash-workers", &hash_workers.to_string()])
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bianmin-server");
        let hub = Hub {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{}/healthz", hub.url)).call().is_err() {
            assert!(Instant::now() < deadline, "bianmin-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        hub
    }

    fn rss_kb(&self, key: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sign-in form's cookie and token.
fn form(url: &str) -> (String, String) {
    let mut resp = ureq::get(&format!("{url}/console/sign-in"))
        .call()
        .expect("the form");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("a cookie")
        .to_string();
    let body = resp.body_mut().read_to_string().expect("a body");
    let at = body.find(r#"name="csrf" value=""#).expect("a token") + 19;
    (cookie, body[at..at + 32].to_string())
}

struct Flood {
    idle_kb: u64,
    /// The high-water mark before the flood (starting up with the demo data).
    start_peak_kb: u64,
    /// The largest resident size sampled every 2 ms during the flood.
    peak_kb: u64,
    answers: std::collections::BTreeMap<u16, usize>,
    took: Duration,
}

fn flood(hub: &Hub, n: usize) -> Flood {
    let (cookie, token) = form(&hub.url);
    let idle_kb = hub.rss_kb("VmRSS:");
    let start_peak_kb = hub.rss_kb("VmHWM:");
    let flooding = std::sync::atomic::AtomicBool::new(true);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let started = Instant::now();
    let mut peak_kb = idle_kb;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = 0;
            while flooding.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(hub.rss_kb("VmRSS:"));
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (agent, cookie, token, url) = (&agent, &cookie, &token, &hub.url);
                s.spawn(move || {
                    let name = format!("flood-{i}-{}", rand::random::<u32>());
                    let client = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
                    agent
                        .post(&format!("{url}/console/sign-in"))
                        .header("Cookie", cookie)
                        .header("X-Forwarded-For", &client)
                        .send_form([
                            ("csrf", token.as_str()),
                            ("name", name.as_str()),
                            ("password", "not the password"),
                        ])
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0)
                })
            })
            .collect();
        let statuses = threads.into_iter().map(|t| t.join().unwrap_or(0)).collect();
        flooding.store(false, std::sync::atomic::Ordering::SeqCst);
        peak_kb = sampler.join().unwrap_or(0);
        statuses
    });
    let took = started.elapsed();
    let mut answers = std::collections::BTreeMap::new();
    for s in statuses {
        *answers.entry(s).or_insert(0) += 1;
    }
    Flood {
        idle_kb,
        start_peak_kb,
        peak_kb,
        answers,
        took,
    }
}

fn main() {
    let n: usize = std::env::var("FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let bin = bianmin_tests::hub::release_server_binary();
    let default_workers = std::thread::available_parallelism().map_or(2, |c| c.get().clamp(2, 8));
    println!("Sign-in flood: {n} concurrent sign-ins with random names, each from its own address");
    println!(
        "| hash workers | idle RSS | peak at start-up | peak RSS in the flood | answers (status: count) | took |"
    );
    println!("|---|---|---|---|---|---|");
    let mut peaks = Vec::new();
    for workers in [default_workers, 64] {
        let hub = Hub::start(&bin, workers);
        let f = flood(&hub, n);
        println!(
            "| {workers} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:?} | {:.1} s |",
            f.idle_kb as f64 / 1024.0,
            f.start_peak_kb as f64 / 1024.0,
            f.peak_kb as f64 / 1024.0,
            f.answers,
            f.took.as_secs_f64()
        );
        peaks.push(f.peak_kb as f64);
    }
    println!(
        "peak ratio, 64 workers / default pool: {:.1}x",
        peaks[1] / peaks[0].max(1.0)
    );
}
