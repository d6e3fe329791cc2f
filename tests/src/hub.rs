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

/// The real `bianmin-server` binary running in a child process.
#[derive(Debug)]
pub struct HubProcess {
    child: Child,
    /// Its base URL.
    pub url: String,
    /// The address it listens on (kept across restarts).
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
}

impl HubProcess {
    /// Starts the binary on `data_dir` listening on `addr` (port 0 picks a free port first).
    pub fn start(data_dir: &Path, addr: Option<SocketAddr>) -> HubProcess {
        let addr = addr.unwrap_or_else(|| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
            l.local_addr().expect("addr")
        });
        let child = Command::new(server_binary())
            .args(["--data-dir"])
            .arg(data_dir)
            .args(["serve", "--listen", &addr.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bianmin-server");
        let hub = HubProcess {
            child,
            url: format!("http://{addr}"),
            addr,
            data_dir: data_dir.to_path_buf(),
        };
        hub.wait_ready();
        hub
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ureq::get(&format!("{}/healthz", self.url)).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("bianmin-server did not come up at {}", self.url);
    }

    /// Kills the process at once (SIGKILL), like a power cut of the server.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it and starts it again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill();
        *self = HubProcess::start(&self.data_dir.clone(), Some(self.addr));
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
