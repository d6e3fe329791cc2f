//! A real hub for tests: the `bianmin-server` application served on a loopback port, either in
//! this process (fast; [`TestHub::start`]) or as the real binary in a child process that a test
//! can kill (`kill -9`) and restart ([`HubProcess`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bianmin_client_core::Store;
use bianmin_client_core::client::{self, SyncOptions};
use bianmin_server::blobs::BlobStore;
use bianmin_server::blobs::dir::DirBlobStore;
use bianmin_server::blobs::postgres::PgBlobStore;
use bianmin_server::storage::Storage;
use bianmin_server::storage::postgres::PgStorage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
use tempfile::TempDir;

/// The demo users `admin::load_demo` creates.
pub const RESIDENT: &str = "resident-wang";
/// The demo clerk of East Village.
pub const CLERK: &str = "clerk-east";
/// The demo reviewer of Taiping Town.
pub const REVIEWER: &str = "reviewer-taiping";

/// Sync options for tests: quick retries.
pub fn quick() -> SyncOptions {
    SyncOptions {
        attempts: 3,
        backoff: Duration::from_millis(50),
        ..SyncOptions::default()
    }
}

/// A hub served in this process on a loopback port, with the demo data loaded.
pub struct TestHub {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its storage (for looking at what the hub holds).
    pub storage: Arc<dyn Storage>,
    /// Its state (engine included).
    pub state: AppState,
    _runtime: tokio::runtime::Runtime,
    /// The data directory.
    pub dir: TempDir,
    /// With the PostgreSQL backend, the schema its tables are in (dropped with the hub).
    _schema: Option<PgSchema>,
}

impl std::fmt::Debug for TestHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHub").field("url", &self.url).finish()
    }
}

impl TestHub {
    /// Starts a hub with the demo data (one user per role) in a fresh data directory.
    pub fn start() -> TestHub {
        TestHub::start_with(|state| state)
    }

    /// Like [`TestHub::start`], with the state's settings changed by `configure` first.
    pub fn start_with(configure: impl FnOnce(AppState) -> AppState) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let (storage, blobs, schema) = test_storage(dir.path());
        TestHub::serve(dir, storage, blobs, schema, configure)
    }

    /// A hub on the PostgreSQL schema `schema` (made by the first hub to connect), with the
    /// demo data loaded (once, whichever hub comes first): another instance of the hubs already
    /// there, as a load balancer would run them side by side. It has an engine, a notifier and
    /// a data directory of its own; the schema stays the caller's (dropped with it, so keep it
    /// for longer than the hubs).
    pub fn start_on(schema: &PgSchema) -> TestHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = Arc::new(schema.connect());
        let blobs: Arc<dyn BlobStore> = Arc::new(PgBlobStore::new(&storage));
        let storage: Arc<dyn Storage> = storage;
        admin::load_demo(storage.as_ref()).expect("demo data");
        TestHub::serve(dir, storage, blobs, None, |state| state)
    }

    /// Two instances on one fresh PostgreSQL schema ([`TestHub::start_on`]), whatever
    /// [`BACKEND_VARIABLE`] says; `None` when the test database cannot be reached, outside CI
    /// (see [`postgres_reachable`]).
    pub fn pair() -> Option<HubPair> {
        if !postgres_reachable() {
            return None;
        }
        let schema = PgSchema::fresh();
        let a = TestHub::start_on(&schema);
        let b = TestHub::start_on(&schema);
        Some(HubPair { a, b, schema })
    }

    /// Serves `storage` (the demo data loaded) from a new runtime, like `bianmin-server serve`.
    fn serve(
        dir: TempDir,
        storage: Arc<dyn Storage>,
        blobs: Arc<dyn BlobStore>,
        schema: Option<PgSchema>,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> TestHub {
        let state = configure(AppState::new(storage.clone()).with_blobs(blobs));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // Served like `bianmin-server serve`: the same connection limits and time-outs, with
        // the peer address (the limiters key on it).
        let (router, limits) = (app(state.clone()), state.limits.clone());
        let proxies = state.trusted_proxies.clone();
        runtime.spawn(async move {
            bianmin_server::serve::serve(
                listener,
                router,
                &limits,
                &proxies,
                std::future::pending(),
            )
            .await;
        });
        TestHub {
            url: format!("http://{addr}"),
            storage,
            state,
            _runtime: runtime,
            dir,
            _schema: schema,
        }
    }

    /// A fresh one-time enrolment code for a user's device.
    pub fn code(&self, user: &str) -> String {
        admin::issue_enrolment_code(self.storage.as_ref(), user, Duration::from_secs(3600))
            .expect("code")
    }

    /// Enrols a new device for `user` with a store in `dir`.
    pub fn enrol(&self, user: &str, dir: &Path, name: &str) -> Store {
        client::enroll(
            dir.join(format!("{name}.db")),
            &self.url,
            &self.code(user),
            name,
            &quick(),
        )
        .expect("enrol")
    }
}

/// The variable that chooses the storage backend of [`TestHub`]: `sqlite` (the default) or
/// `postgres`, which puts each hub in a fresh schema of the database at
/// [`TEST_DATABASE_VARIABLE`] (default [`TEST_DATABASE_URL`]), dropped with the hub.
pub const BACKEND_VARIABLE: &str = "BIANMIN_TEST_BACKEND";
/// The variable naming the PostgreSQL database tests use.
pub const TEST_DATABASE_VARIABLE: &str = "BIANMIN_TEST_DATABASE_URL";
/// The PostgreSQL database tests use unless [`TEST_DATABASE_VARIABLE`] names another.
pub const TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL database tests use.
pub fn test_database_url() -> String {
    std::env::var(TEST_DATABASE_VARIABLE).unwrap_or_else(|_| TEST_DATABASE_URL.to_string())
}

/// A hub's storage and attachment store as [`BACKEND_VARIABLE`] chooses (SQLite and a blob
/// directory in `dir`, or both in a fresh PostgreSQL schema), with the demo data loaded.
fn test_storage(dir: &Path) -> (Arc<dyn Storage>, Arc<dyn BlobStore>, Option<PgSchema>) {
    let backend = std::env::var(BACKEND_VARIABLE).unwrap_or_default();
    let (storage, blobs, schema): (Arc<dyn Storage>, Arc<dyn BlobStore>, _) = match backend.as_str()
    {
        "" | "sqlite" => (
            Arc::new(SqliteStorage::open(dir).expect("storage")),
            Arc::new(DirBlobStore::open(dir.join("blobs")).expect("blob store")),
            None,
        ),
        "postgres" => {
            let schema = PgSchema::fresh();
            let storage = Arc::new(schema.connect());
            let blobs = Arc::new(PgBlobStore::new(&storage));
            (storage, blobs, Some(schema))
        }
        other => panic!("{BACKEND_VARIABLE}={other}: use sqlite or postgres"),
    };
    admin::load_demo(storage.as_ref()).expect("demo data");
    (storage, blobs, schema)
}

/// A schema of the test database of its own, dropped (with everything in it) on drop.
#[derive(Debug)]
pub struct PgSchema {
    /// The database.
    pub url: String,
    /// The schema's name, `hub_<random hex>`.
    pub name: String,
}

impl PgSchema {
    /// A hub's storage in this schema (made, and brought up to date, by the first to connect).
    pub fn connect(&self) -> PgStorage {
        PgStorage::builder(&self.url)
            .schema(&self.name)
            .pool_size(8)
            .connect()
            .unwrap_or_else(|e| {
                panic!("the PostgreSQL test database ({TEST_DATABASE_VARIABLE}): {e}")
            })
    }

    /// A fresh name in the test database (the schema itself is made by whoever connects first).
    pub fn fresh() -> PgSchema {
        PgSchema {
            url: test_database_url(),
            name: format!("hub_{:016x}", rand::random::<u64>()),
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// Two hubs ("instances") on one PostgreSQL schema: [`TestHub::pair`].
#[derive(Debug)]
pub struct HubPair {
    /// The first instance.
    pub a: TestHub,
    /// The second.
    pub b: TestHub,
    /// Their schema, dropped after both hubs (fields drop in this order).
    pub schema: PgSchema,
}

/// Whether the PostgreSQL test database ([`test_database_url`]) answers. When it does not, a
/// line on stderr (once, past the test harness's capture) says that the tests needing it did
/// not run, and it is `false`; under CI (`CI` set) it panics instead, since CI must run them.
pub fn postgres_reachable() -> bool {
    static REACHED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let reached = REACHED.get_or_init(|| {
        let probe = test_database_url()
            .parse::<postgres::Config>()
            .and_then(|mut config| {
                config.connect_timeout(Duration::from_secs(5));
                config.connect(postgres::NoTls)?.close()
            });
        let reached = probe.map_err(|e| {
            // The error and its causes ("connection refused"...).
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        });
        if let Err(why) = &reached
            && std::env::var_os("CI").is_none()
        {
            use std::io::Write;
            let line = format!(
                "PostgreSQL tests not run: the test database cannot be reached ({why}); set \
                 {TEST_DATABASE_VARIABLE} to a PostgreSQL database to run them\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        reached
    });
    match reached {
        Ok(()) => true,
        Err(why) if std::env::var_os("CI").is_some() => panic!(
            "the PostgreSQL test database ({TEST_DATABASE_VARIABLE}) cannot be reached, and CI \
             must run the tests that need it: {why}"
        ),
        Err(_) => false,
    }
}

/// The `bianmin-server` binary, built on demand.
pub fn server_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test exe");
            let target = exe.parent().and_then(Path::parent).expect("target dir");
            let bin = target.join(format!("bianmin-server{}", std::env::consts::EXE_SUFFIX));
            // Always asked (a no-op when it is up to date), so a stale binary is never tested.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "bianmin-server", "--bin", "bianmin-server"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .status()
                .expect("cargo build");
            assert!(status.success(), "building bianmin-server failed");
            bin
        })
        .clone()
}

/// The release `bianmin-server` binary beside a benchmark's executable, built first (a no-op
/// when up to date): what the benchmarks measure.
pub fn release_server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("bench exe");
    let target = exe.parent().and_then(Path::parent).expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "bianmin-server",
            "--bin",
            "bianmin-server",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .status()
        .expect("cargo build");
    assert!(status.success(), "building bianmin-server failed");
    target.join(format!("bianmin-server{}", std::env::consts::EXE_SUFFIX))
}

/// The variable that, when set (to anything), lets [`HubProcess`]es write their output to the
/// test's own stdout and stderr instead of [`HUB_LOG_FILE`] in their data directory.
pub const HUB_LOG_VARIABLE: &str = "BIANMIN_TEST_HUB_LOG";
/// The file in a [`HubProcess`]'s data directory its output (stdout and stderr, the log) goes
/// to, appended to across restarts, each start marked by a line of its own.
pub const HUB_LOG_FILE: &str = "hub.log";

/// Where a [`HubProcess`] keeps its data.
#[derive(Debug, Clone)]
enum ProcessBackend {
    /// SQLite and a blob directory in its data directory.
    Embedded,
    /// A schema of a PostgreSQL database (`--database URL --database-schema NAME`), shared
    /// with the other processes started on it.
    Postgres { url: String, schema: String },
}

/// The real `bianmin-server` binary running in a child process.
///
/// Its output goes to [`HUB_LOG_FILE`] in its data directory (or, with [`HUB_LOG_VARIABLE`]
/// set, to the test's stderr); a test that panics while the process lives prints the log's
/// end, so that a failure can be diagnosed.
#[derive(Debug)]
pub struct HubProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
    /// The address it listens on (kept across restarts).
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    backend: ProcessBackend,
}

impl HubProcess {
    /// Starts the binary on `data_dir` (SQLite) listening on `addr` (port 0 picks a free port
    /// first), and waits until it answers.
    pub fn start(data_dir: &Path, addr: Option<SocketAddr>) -> HubProcess {
        let mut hub = HubProcess::spawn(data_dir, addr, ProcessBackend::Embedded);
        hub.wait_ready();
        hub
    }

    /// Starts the binary on the PostgreSQL schema `schema` (made and migrated by whichever
    /// process or test connects first), with `data_dir` for its log, and waits until it
    /// answers. Load the demo data into the schema (`schema.connect()` and
    /// [`admin::load_demo`]) before the first device enrols.
    pub fn start_pg(schema: &PgSchema, data_dir: &Path, addr: Option<SocketAddr>) -> HubProcess {
        let mut hub = HubProcess::spawn_pg(schema, data_dir, addr);
        hub.wait_ready();
        hub
    }

    /// Like [`HubProcess::start_pg`] without waiting: several processes spawned one after the
    /// other start at the same time; [`HubProcess::wait_ready`] then waits for each.
    pub fn spawn_pg(schema: &PgSchema, data_dir: &Path, addr: Option<SocketAddr>) -> HubProcess {
        let backend = ProcessBackend::Postgres {
            url: schema.url.clone(),
            schema: schema.name.clone(),
        };
        HubProcess::spawn(data_dir, addr, backend)
    }

    fn spawn(data_dir: &Path, addr: Option<SocketAddr>, backend: ProcessBackend) -> HubProcess {
        let addr = addr.unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
            l.local_addr().expect("addr")
        });
        std::fs::create_dir_all(data_dir).expect("the hub's data directory");
        let mut command = Command::new(server_binary());
        command.arg("--data-dir").arg(data_dir);
        if let ProcessBackend::Postgres { url, schema } = &backend {
            command
                .args(["--database", url])
                .args(["--database-schema", schema]);
        }
        command.args(["serve", "--listen", &addr.to_string()]);
        if std::env::var_os(HUB_LOG_VARIABLE).is_some() {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        } else {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(data_dir.join(HUB_LOG_FILE))
                .expect("the hub's log file");
            // Which start the lines below belong to (a restarted hub appends to the same file).
            let _ = writeln!(log, "=== bianmin-server starting on {addr} ===");
            let out = log.try_clone().expect("the hub's log file");
            command.stdout(out).stderr(log);
        }
        let child = command.spawn().expect("spawn bianmin-server");
        HubProcess {
            child,
            url: format!("http://{addr}"),
            addr,
            data_dir: data_dir.to_path_buf(),
            backend,
        }
    }

    /// Waits until the process answers `/healthz` (at most 30 s); panics, with its log, if it
    /// exits or does not come up.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "bianmin-server at {} exited ({status}) before it was ready; its log:\n{}",
                    self.url,
                    self.log()
                );
            }
            if ureq::get(&format!("{}/healthz", self.url)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "bianmin-server did not come up at {}; its log:\n{}",
            self.url,
            self.log()
        );
    }

    /// Where its log is written (unless [`HUB_LOG_VARIABLE`] sends it to stderr).
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join(HUB_LOG_FILE)
    }

    /// Everything it (and its earlier runs on this data directory) logged so far; empty when
    /// [`HUB_LOG_VARIABLE`] sends the log to stderr.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The lines of [`HubProcess::log`] that report a panic in the hub (it logs each as an
    /// error event named `panic`).
    pub fn panics(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains("panic"))
            .map(str::to_string)
            .collect()
    }

    /// Kills the process at once (SIGKILL), like a power cut of the server.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it and starts it again on the same data directory (and database) and port.
    pub fn restart(&mut self) {
        self.kill();
        let mut again = HubProcess::spawn(&self.data_dir, Some(self.addr), self.backend.clone());
        again.wait_ready();
        *self = again;
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            eprintln!(
                "--- the end of the log of bianmin-server at {} ({}):\n{tail}",
                self.url,
                self.log_path().display()
            );
        }
    }
}

/// Enrols a new device for `user` through the hub at `url` with a one-time code issued in
/// `storage` (the hub's own database, as `bianmin-server device code` would), its store in
/// `dir`.
pub fn enrol_at(storage: &dyn Storage, url: &str, user: &str, dir: &Path, name: &str) -> Store {
    let code = admin::issue_enrolment_code(storage, user, Duration::from_secs(3600)).expect("code");
    client::enroll(dir.join(format!("{name}.db")), url, &code, name, &quick())
        .unwrap_or_else(|e| panic!("enrolling {name} ({user}) through {url}: {e}"))
}
