//! `bianmin-server`: the township hub, and its administration commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bianmin_domain::Role;
use bianmin_server::blobs::BlobStore;
use bianmin_server::blobs::dir::DirBlobStore;
use bianmin_server::blobs::postgres::PgBlobStore;
use bianmin_server::storage::Storage;
use bianmin_server::storage::postgres::PgStorage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::web::console::ConsoleConfig;
use bianmin_server::{AppState, Limits, admin, app};
use clap::{Parser, Subcommand};

/// Bianmin's township hub: village tablets enrol with it and sync their work through it.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Directory holding the hub's database (created if missing).
    #[arg(
        long,
        env = "BIANMIN_DATA_DIR",
        default_value = "./bianmin-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The PostgreSQL database to keep the hub's data in (`postgres://user@host:5432/db`, or
    /// key=value pairs), shared by as many hub processes as run against it. Without it the
    /// hub keeps an embedded SQLite database in the data directory.
    #[arg(
        long,
        env = "BIANMIN_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database: Option<String>,
    /// The PostgreSQL schema holding the hub's tables (created if missing), so that several
    /// hubs can share one database; without it, the first schema of the server's search path
    /// (`public`).
    #[arg(
        long,
        env = "BIANMIN_DATABASE_SCHEMA",
        global = true,
        requires = "database"
    )]
    database_schema: Option<String>,
    /// The most PostgreSQL connections this process opens (its pool; one more listens for the
    /// change log's notifications). Several processes on one server: keep their sum, plus
    /// one each, under the server's `max_connections`.
    #[arg(
        long,
        env = "BIANMIN_DATABASE_POOL",
        global = true,
        requires = "database",
        default_value_t = bianmin_server::storage::postgres::DEFAULT_POOL_SIZE,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    database_pool: u32,
    /// How log lines are written to stderr: `text` (coloured only at a terminal) or `json`
    /// (one JSON object per line, for a log collector).
    #[arg(
        long,
        env = "BIANMIN_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Plain text, one event per line.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `message`, the event's fields,
    /// `target`, and the request's span.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        /// Address and port to listen on.
        #[arg(long, env = "BIANMIN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Load the demo county, catalog, 2026 calendar and one user per role, print
        /// enrolment codes for their devices, and give the demo reviewer and administrator the
        /// console password `bianmin-demo` (unless they have one).
        #[arg(long, env = "BIANMIN_DEMO")]
        demo: bool,
        /// Browsers reach the hub over HTTPS (e.g. behind a reverse proxy): mark every cookie
        /// `Secure`, name the console's cookies `__Host-…` and send HSTS. Leave it off for
        /// plain http on loopback.
        #[arg(long, env = "BIANMIN_SECURE_COOKIES")]
        secure_cookies: bool,
        /// The address residents reach the hub at, e.g. https://hub.example.cn: printed on the
        /// console's notices as the QR code of the status look-up. Without it, the address the
        /// reviewer's browser used.
        #[arg(long, env = "BIANMIN_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
        public_url: Option<String>,
        /// The address of a reverse proxy in front of the hub whose `X-Forwarded-For` header
        /// names the client (the public status look-up limits guesses per client); repeat for
        /// each, or give a comma-separated list. Without it the header is never read.
        #[arg(
            long = "trusted-proxy",
            value_name = "IP",
            env = "BIANMIN_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<std::net::IpAddr>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Manage the API keys of applications that file requests through Open311 GeoReport v2
    /// (`POST /open311/v2/requests`).
    #[command(subcommand, name = "open311-key")]
    Open311Key(Open311KeyCommand),
    /// Load reference data (catalog, village directory, holiday calendar).
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Copy the database and the attachments into a new directory while the hub serves. The
    /// copy is a data directory itself: `--data-dir COPY serve` serves it.
    Backup {
        /// The new (or empty) directory to write the copy into.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Move the hub in the data directory (its SQLite database and attachments) into the
    /// PostgreSQL database given with --database, which must hold no hub's data: every table,
    /// the change log with its numbers and identity unchanged (tablets sync on), every complete
    /// attachment; then verify the counts. Stop the hub first.
    MigrateToPostgres,
    /// Mark the database as restored (from a `pg_dump`, or a data directory copied by hand):
    /// give its change log a new identity, so that at their next sync the tablets read it
    /// from the start and hand back every change the hub forgot. Stop every hub process on
    /// the database first (`backup`'s copies need not be marked: they are already).
    MarkRestored,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user with a role over an area.
    Add {
        /// Sign-in name (letters, digits, '-', '_', '.').
        #[arg(long)]
        name: String,
        /// resident, clerk, reviewer or administrator.
        #[arg(long)]
        role: String,
        /// Village code (resident, clerk), township code (reviewer) or county code (administrator).
        #[arg(long)]
        area: String,
        /// Name shown to others.
        #[arg(long, default_value = "")]
        display_name: String,
    },
    /// List users.
    List,
    /// Set a user's console password (reviewers and administrators sign in with it). Asks at a
    /// terminal, twice and without echo; otherwise reads one line from standard input. Never
    /// give the password as an argument: arguments end up in shell histories and process lists.
    Password {
        /// The user's sign-in name.
        name: String,
        /// Read the password as one line from standard input, without prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Remove the password instead: the user can no longer sign in to the console.
        #[arg(long, conflicts_with = "password_stdin")]
        clear: bool,
    },
    /// Open (or reset) a resident's account: print a one-time activation code, shown this once,
    /// with which the resident chooses a password at /resident/activate. The resident's earlier
    /// unused code stops working.
    ResidentCode {
        /// The resident's sign-in name.
        #[arg(long)]
        name: String,
        /// Days the code stays valid.
        #[arg(long, default_value_t = 14)]
        valid_days: u64,
    },
    /// Deactivate an account of any role: no more sign-in, open sessions end. A clerk's,
    /// reviewer's or administrator's devices are refused until reactivation (their unsynced
    /// work stays on them); a resident's keep syncing (revoke them with `device revoke`).
    /// Refused for the last administrator who can sign in to the console.
    Deactivate {
        /// The user's sign-in name.
        name: String,
    },
    /// Reactivate a deactivated account: the same password works again, and a staff user's
    /// devices sync again.
    Reactivate {
        /// The user's sign-in name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Issue a one-time enrolment code for a user's device.
    Code {
        /// The user's sign-in name.
        #[arg(long)]
        user: String,
        /// Hours the code stays valid.
        #[arg(long, default_value_t = 24)]
        valid_hours: u64,
    },
    /// List enrolled devices.
    List,
    /// Revoke a device: its next request is refused.
    Revoke {
        /// The device id (see `device list`).
        device_id: String,
    },
}

#[derive(Debug, Subcommand)]
enum Open311KeyCommand {
    /// Issue a key to an application for the villages of one township: prints the key, shown
    /// this once (the hub keeps only its hash).
    Issue {
        /// The township's 9-digit code (from the village directory).
        #[arg(long)]
        township: String,
        /// The application's name (shown in `list` and in the console).
        #[arg(long)]
        name: String,
    },
    /// Revoke a key: every request sent with it is refused from now on.
    Revoke {
        /// The key's number (see `open311-key list`).
        id: u64,
    },
    /// List the keys: number, township, state, when issued (and revoked), application.
    List,
}

#[derive(Debug, Subcommand)]
enum ReferenceCommand {
    /// Load a service-item catalog (JSON).
    Catalog {
        /// The file.
        file: PathBuf,
    },
    /// Load a village directory (JSON).
    Directory {
        /// The file.
        file: PathBuf,
    },
    /// Load one year's holiday calendar (JSON).
    Calendar {
        /// The file.
        file: PathBuf,
    },
}

/// The hub's limits (see `docs/operations.md`, "Limits and time-outs"); defaults from
/// [`Limits::default`].
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Open connections at once, in all.
    #[arg(long, env = "BIANMIN_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Open connections at once from one client address (reverse proxies excepted).
    #[arg(long, env = "BIANMIN_MAX_CONNECTIONS_PER_CLIENT", default_value_t = Limits::default().max_connections_per_client)]
    max_connections_per_client: usize,
    /// Seconds a client has to send a request's headers (also how long an idle connection
    /// stays open).
    #[arg(long, env = "BIANMIN_HEADER_TIMEOUT", default_value_t = Limits::default().header_read_timeout.as_secs())]
    header_timeout: u64,
    /// Longest pause, in seconds, while a request body is being sent.
    #[arg(long, env = "BIANMIN_BODY_IDLE_TIMEOUT", default_value_t = Limits::default().body_idle_timeout.as_secs())]
    body_idle_timeout: u64,
    /// Seconds to answer a console or public page, its form included.
    #[arg(long, env = "BIANMIN_PAGE_TIMEOUT", default_value_t = Limits::default().page_timeout.as_secs())]
    page_timeout: u64,
    /// Seconds to answer a sync or attachment request, its body included.
    #[arg(long, env = "BIANMIN_API_TIMEOUT", default_value_t = Limits::default().api_timeout.as_secs())]
    api_timeout: u64,
    /// Largest console or public form, in bytes.
    #[arg(long, env = "BIANMIN_FORM_BODY_LIMIT", default_value_t = Limits::default().form_body_bytes)]
    form_body_limit: usize,
    /// Largest sync request, in bytes.
    #[arg(long, env = "BIANMIN_SYNC_BODY_LIMIT", default_value_t = Limits::default().sync_body_bytes)]
    sync_body_limit: usize,
    /// Largest resident's form with photos (a filing or a supplement from a phone), in bytes.
    #[arg(long, env = "BIANMIN_PHOTO_BODY_LIMIT", default_value_t = Limits::default().photo_body_bytes)]
    photo_body_limit: usize,
    /// Residents' photos decoded and scaled at once.
    #[arg(long, env = "BIANMIN_PHOTO_WORKERS", default_value_t = Limits::default().photo_workers)]
    photo_workers: usize,
    /// Password checks running at once (each takes about 19 MiB while it runs).
    #[arg(long, env = "BIANMIN_HASH_WORKERS", default_value_t = Limits::default().hashing.workers)]
    hash_workers: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            header_read_timeout: Duration::from_secs(self.header_timeout.max(1)),
            body_idle_timeout: Duration::from_secs(self.body_idle_timeout.max(1)),
            page_timeout: Duration::from_secs(self.page_timeout.max(1)),
            api_timeout: Duration::from_secs(self.api_timeout.max(1)),
            form_body_bytes: self.form_body_limit,
            sync_body_bytes: self.sync_body_limit,
            photo_body_bytes: self.photo_body_limit,
            photo_workers: self.photo_workers.max(1),
            hashing: bianmin_server::password::PoolConfig {
                workers: self.hash_workers.max(1),
                ..d.hashing
            },
            ..d
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Panics go to the log like everything else, one line with where, instead of the default
    // hook's stderr text. Most are automerge's on corrupt input, caught: the push is refused
    // (`malformed`) and the hub keeps serving.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, %message, "panic");
    }));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Logs to stderr in `format`, at the levels of `RUST_LOG` (default: info for the hub).
/// Colours only when stderr is a terminal and `NO_COLOR` is not set: a pipe or a file gets
/// plain text.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "bianmin_server=info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            logs.with_ansi(colour).init();
        }
        LogFormat::Json => logs.with_ansi(false).json().flatten_event(true).init(),
    }
}

/// Where the hub keeps its data: an embedded SQLite database and a blob directory in the data
/// directory, or a PostgreSQL database (`--database`) holding both, shared by every instance.
enum Backend {
    Embedded(Arc<SqliteStorage>),
    Postgres(Arc<PgStorage>),
}

impl Backend {
    fn open(cli: &Cli) -> Result<Backend, String> {
        Ok(match &cli.database {
            Some(url) => {
                let mut builder = PgStorage::builder(url).pool_size(cli.database_pool);
                if let Some(schema) = &cli.database_schema {
                    builder = builder.schema(schema);
                }
                Backend::Postgres(Arc::new(builder.connect().map_err(|e| e.to_string())?))
            }
            None => Backend::Embedded(Arc::new(
                SqliteStorage::open(&cli.data_dir).map_err(|e| e.to_string())?,
            )),
        })
    }

    fn storage(&self) -> Arc<dyn Storage> {
        match self {
            Backend::Embedded(s) => s.clone(),
            Backend::Postgres(s) => s.clone(),
        }
    }

    /// The attachment bytes: `blobs/` in the data directory, or the PostgreSQL database.
    fn blobs(&self, data_dir: &std::path::Path) -> Result<Arc<dyn BlobStore>, String> {
        Ok(match self {
            Backend::Embedded(_) => {
                Arc::new(DirBlobStore::open(data_dir.join("blobs")).map_err(|e| {
                    format!("cannot open the blob store in {}: {e}", data_dir.display())
                })?)
            }
            Backend::Postgres(s) => Arc::new(PgBlobStore::new(s)),
        })
    }
}

/// `--public-url`: a plain http(s) address, made canonical.
fn public_url(raw: &str) -> Result<String, String> {
    bianmin_document::notice::lookup_base(raw).ok_or_else(|| {
        "must be an http:// or https:// address without query or fragment, e.g. \
         https://hub.example.cn"
            .to_string()
    })
}

/// A time as `2026-03-02 09:30` in China Standard Time.
fn china_time(ms: i64) -> String {
    let cst = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is valid");
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .with_timezone(&cst)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn run(cli: Cli) -> Result<(), String> {
    let backend = Backend::open(&cli)?;
    let storage = backend.storage();
    let read = |file: &PathBuf| {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    match cli.command {
        Command::Serve {
            listen,
            demo,
            secure_cookies,
            public_url,
            trusted_proxies,
            limits,
        } => serve(
            &backend,
            listen,
            demo,
            ServeOptions {
                secure_cookies,
                public_url,
                trusted_proxies,
                limits: limits.limits(),
            },
            &cli.data_dir,
        ),
        Command::User(UserCommand::Password {
            name,
            password_stdin,
            clear,
        }) => {
            let password = if clear {
                None
            } else {
                Some(read_password(password_stdin)?)
            };
            let user = admin::set_password(storage.as_ref(), &name, password.as_deref())
                .map_err(|e| e.to_string())?;
            if clear {
                println!("console password removed for {}", user.name);
            } else {
                println!("console password set for {}", user.name);
            }
            if !matches!(user.role, Role::Reviewer | Role::Administrator) {
                eprintln!(
                    "note: {} is a {}: only reviewers and administrators may sign in to the console",
                    user.name, user.role
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            name,
            role,
            area,
            display_name,
        }) => {
            let role = Role::parse(&role).map_err(|e| e.to_string())?;
            let user = admin::add_user(storage.as_ref(), &name, &display_name, role, &area)
                .map_err(|e| e.to_string())?;
            println!(
                "added {} ({}, {} over {})",
                user.name, user.id, user.role, user.area
            );
            Ok(())
        }
        Command::User(UserCommand::ResidentCode { name, valid_days }) => {
            if valid_days == 0 || valid_days > 90 {
                return Err("--valid-days must be 1 to 90".into());
            }
            let issued = admin::issue_activation_code(
                storage.as_ref(),
                &name,
                Duration::from_secs(valid_days * 24 * 3600),
            )
            .map_err(|e| e.to_string())?;
            println!("{}", issued.code);
            eprintln!(
                "one-time activation code for {name}, valid {valid_days} days: the resident \
                 enters it with a new password at /resident/activate"
            );
            Ok(())
        }
        Command::User(UserCommand::Deactivate { name }) => {
            match admin::deactivate_user(storage.as_ref(), &name).map_err(|e| e.to_string())? {
                true => println!("deactivated {name}: signed out, no more sign-in"),
                false => println!("{name} was deactivated already"),
            }
            let user = storage
                .user_by_name(&name)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("user '{name}' not found"))?;
            let stopped = admin::devices_stopped_by_deactivation(storage.as_ref(), &user)
                .map_err(|e| e.to_string())?;
            for d in stopped {
                println!(
                    "device #{} {} is refused until reactivation",
                    d.device_no, d.name
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Reactivate { name }) => {
            match admin::reactivate_user(storage.as_ref(), &name).map_err(|e| e.to_string())? {
                true => println!("reactivated {name}"),
                false => println!("{name} was not deactivated"),
            }
            Ok(())
        }
        Command::User(UserCommand::List) => {
            for u in storage.users().map_err(|e| e.to_string())? {
                println!(
                    "{:<20} {:<14} {:<13} {}",
                    u.name, u.role, u.area, u.display_name
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Code { user, valid_hours }) => {
            let code = admin::issue_enrolment_code(
                storage.as_ref(),
                &user,
                Duration::from_secs(valid_hours * 3600),
            )
            .map_err(|e| e.to_string())?;
            println!("{code}");
            eprintln!("one-time enrolment code for {user}, valid {valid_hours} h");
            Ok(())
        }
        Command::Device(DeviceCommand::List) => {
            for d in storage.devices().map_err(|e| e.to_string())? {
                let state = if d.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:>4} {} {:<8} user {} {}",
                    d.device_no, d.id, state, d.user_id, d.name
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { device_id }) => {
            match admin::revoke_device(storage.as_ref(), &device_id).map_err(|e| e.to_string())? {
                true => println!("revoked {device_id}"),
                false => println!("{device_id} was already revoked"),
            }
            Ok(())
        }
        Command::Open311Key(Open311KeyCommand::Issue { township, name }) => {
            let issued = admin::issue_open311_key(storage.as_ref(), &township, &name)
                .map_err(|e| e.to_string())?;
            println!("{}", issued.key);
            eprintln!(
                "Open311 key {} for {} in township {}: give it to the application, which sends \
                 it as api_key; it is shown this once (revoke it with `open311-key revoke {}`)",
                issued.record.id, issued.record.name, issued.record.township, issued.record.id
            );
            Ok(())
        }
        Command::Open311Key(Open311KeyCommand::Revoke { id }) => {
            match admin::revoke_open311_key(storage.as_ref(), id).map_err(|e| e.to_string())? {
                true => println!("revoked Open311 key {id}: requests sent with it are refused"),
                false => println!("Open311 key {id} was already revoked"),
            }
            Ok(())
        }
        Command::Open311Key(Open311KeyCommand::List) => {
            for k in storage.open311_keys().map_err(|e| e.to_string())? {
                let state = match k.revoked_at {
                    Some(at) => format!("revoked {}", china_time(at)),
                    None => "active".to_string(),
                };
                println!(
                    "{:>4} {} issued {} {:<27} {}",
                    k.id,
                    k.township,
                    china_time(k.created_at),
                    state,
                    k.name
                );
            }
            Ok(())
        }
        Command::MigrateToPostgres => {
            let Backend::Postgres(target) = &backend else {
                return Err(
                    "`migrate-to-postgres` copies the hub in --data-dir into the \
                     PostgreSQL database given with --database (or BIANMIN_DATABASE_URL)"
                        .into(),
                );
            };
            let report =
                bianmin_server::storage::migrate::migrate_to_postgres(&cli.data_dir, target)
                    .map_err(|e| e.to_string())?;
            println!("{report}");
            println!("start the hub with the same --database to serve it from PostgreSQL");
            Ok(())
        }
        Command::MarkRestored => {
            if let Backend::Postgres(pg) = &backend {
                let serving = pg.serving_hubs().map_err(|e| e.to_string())?;
                if serving > 0 {
                    return Err(format!(
                        "{serving} hub process(es) serve this database: stop every one first \
                         (a running hub keeps the old identity)"
                    ));
                }
            }
            let old = storage.log_id().map_err(|e| e.to_string())?;
            let new = storage.renew_log_id().map_err(|e| e.to_string())?;
            println!(
                "change log {old} is now {new}: tablets read it from the start at their next sync"
            );
            Ok(())
        }
        Command::Backup { to } => {
            let Backend::Embedded(sqlite) = &backend else {
                return Err(
                    "`backup` copies the embedded SQLite database; with --database, back \
                     up PostgreSQL with pg_dump (docs/operations.md)"
                        .into(),
                );
            };
            let blobs = DirBlobStore::open(cli.data_dir.join("blobs"))
                .map_err(|e| format!("cannot open the blob store: {e}"))?;
            let done =
                bianmin_server::backup::backup(sqlite, &blobs, &to).map_err(|e| e.to_string())?;
            println!(
                "backed up into {}: database {} bytes, {} attachments ({} bytes)",
                to.display(),
                done.database_bytes,
                done.blobs,
                done.blob_bytes
            );
            Ok(())
        }
        Command::Reference(r) => {
            let version = match r {
                ReferenceCommand::Catalog { file } => {
                    admin::load_catalog(storage.as_ref(), &read(&file)?)
                }
                ReferenceCommand::Directory { file } => {
                    admin::load_directory(storage.as_ref(), &read(&file)?)
                }
                ReferenceCommand::Calendar { file } => {
                    admin::load_calendar(storage.as_ref(), &read(&file)?).inspect(|_| {
                        // Deadlines moved: rewrite the document index now (a running hub
                        // notices too, within seconds).
                        let engine = bianmin_server::engine::Engine::new(storage.clone());
                        match engine.reindex(true) {
                            Ok(n) => println!("deadlines recomputed for {n} documents"),
                            Err(e) => eprintln!("deadlines not recomputed: {e}"),
                        }
                    })
                }
            }
            .map_err(|e| e.to_string())?;
            println!("reference data is now version {version}");
            Ok(())
        }
    }
}

/// Reads a new password: at a terminal (unless `from_stdin`), asked twice without echo;
/// otherwise one line of standard input.
fn read_password(from_stdin: bool) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        let first = prompt_hidden("New console password: ")?;
        let second = prompt_hidden("Repeat it: ")?;
        if first != second {
            return Err("the two passwords differ; nothing changed".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Asks for a line at the terminal with echo off (through `stty`; if that is missing the
/// typing shows, as with any plain prompt).
fn prompt_hidden(prompt: &str) -> Result<String, String> {
    use std::io::{BufRead, Write};
    use std::process::{Command as Process, Stdio};
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let stty = |arg: &str| {
        Process::new("stty")
            .arg(arg)
            .stdin(Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// How `serve` serves.
struct ServeOptions {
    secure_cookies: bool,
    public_url: Option<String>,
    trusted_proxies: Vec<std::net::IpAddr>,
    limits: Limits,
}

fn serve(
    backend: &Backend,
    listen: SocketAddr,
    demo: bool,
    options: ServeOptions,
    data_dir: &std::path::Path,
) -> Result<(), String> {
    let ServeOptions {
        secure_cookies,
        public_url,
        trusted_proxies,
        limits,
    } = options;
    let storage = backend.storage();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    // The runtime's context (for the signal handlers and the tasks the state starts), but not
    // inside it: the storage is blocking and is set up here, before anything is served.
    let _context = runtime.enter();
    // Listening for the signals before anything is served: one that comes early still shuts
    // the hub down gracefully.
    let signal = shutdown_signal()?;
    let passwords = if demo {
        load_demo_users(storage.as_ref())?
    } else {
        Vec::new()
    };
    let blobs = backend.blobs(data_dir)?;
    bianmin_server::blobs::sweep(blobs.clone(), bianmin_server::blobs::PARTIAL_IDLE);
    let state = AppState::new(storage.clone())
        .with_console(ConsoleConfig {
            secure_cookies,
            public_url,
            ..ConsoleConfig::default()
        })
        .with_blobs(blobs)
        .with_limits(limits.clone())
        .with_trusted_proxies(trusted_proxies.clone());
    // A fresh demo hub gets a demo device's work, pushed through the same check as any
    // tablet's, so that the console has requests to decide (enrolled before serving: always
    // device 1). Said once the hub listens.
    let demo_requests = demo.then(|| bianmin_server::demo::load(storage.as_ref(), &state.engine));
    let metrics = state.metrics.clone();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("bianmin-server listening on http://{local}");
        if demo {
            println!(
                "Enrol a tablet: POST http://{local}/api/v1/enrol with one of the codes above."
            );
            println!("Township console: http://{local}/console/sign-in");
            for (name, works) in &passwords {
                if *works {
                    println!("  sign in as {name:<18} password {}", admin::DEMO_PASSWORD);
                } else {
                    println!("  sign in as {name:<18} with the password set for it (changed)");
                }
            }
        }
        match demo_requests {
            Some(Ok(n)) if n > 0 => {
                println!("Demo tablet of West Village synced {n} requests to the township.")
            }
            Some(Err(e)) => eprintln!("demo requests not loaded: {e}"),
            _ => {}
        }
        let shutdown = async move {
            let signal = signal.await;
            tracing::info!(
                signal,
                "shutdown begun: /readyz answers 503, requests under way finish (at most {:?})",
                bianmin_server::serve::DRAIN
            );
            metrics.begin_shutdown();
        };
        let proxies: Vec<std::net::IpAddr> =
            trusted_proxies.iter().map(|ip| ip.to_canonical()).collect();
        bianmin_server::serve::serve(listener, app(state), &limits, &proxies, shutdown).await;
        tracing::info!("shutdown done");
        Ok(())
    })
}

/// Loads the demo county and users, prints their enrolment codes, and gives the demo reviewer
/// and administrator the demo password (unless they have one): which of them has it.
fn load_demo_users(storage: &dyn Storage) -> Result<Vec<(String, bool)>, String> {
    let users = admin::load_demo(storage).map_err(|e| e.to_string())?;
    println!("Demo data loaded (county 370883, Taiping Town, East Village).");
    let passwords = admin::set_demo_passwords(storage).map_err(|e| e.to_string())?;
    println!("One-time enrolment codes (valid 24 h), one per demo user:");
    for u in &users {
        println!(
            "  {:<18} {:<13} {}  {}",
            u.user.name,
            u.user.role.as_str(),
            u.code,
            u.user.display_name
        );
    }
    Ok(passwords)
}

/// Completes on SIGTERM (what service managers and orchestrators send) or SIGINT (Ctrl-C),
/// naming which; listening starts at once.
#[cfg(unix)]
fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| format!("cannot listen for {name}: {e}"))
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>, String> {
    Ok(async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C; stop the hub by other means");
            std::future::pending::<()>().await;
        }
        "Ctrl-C"
    })
}
