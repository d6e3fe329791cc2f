//! `bianmin-server`: the township hub, and its administration commands.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bianmin_domain::Role;
use bianmin_server::storage::Storage;
use bianmin_server::storage::sqlite::SqliteStorage;
use bianmin_server::{AppState, admin, app};
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the sync API.
    Serve {
        /// Address and port to listen on.
        #[arg(long, env = "BIANMIN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Load the demo county, catalog, 2026 calendar and one user per role, and print
        /// enrolment codes for their devices.
        #[arg(long, env = "BIANMIN_DEMO")]
        demo: bool,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Load reference data (catalog, village directory, holiday calendar).
    #[command(subcommand)]
    Reference(ReferenceCommand),
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "bianmin_server=info,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let storage = SqliteStorage::open(&cli.data_dir).map_err(|e| e.to_string())?;
    let storage: Arc<dyn Storage> = Arc::new(storage);
    let read = |file: &PathBuf| {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    match cli.command {
        Command::Serve { listen, demo } => serve(storage, listen, demo, &cli.data_dir),
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
        Command::Reference(r) => {
            let version = match r {
                ReferenceCommand::Catalog { file } => {
                    admin::load_catalog(storage.as_ref(), &read(&file)?)
                }
                ReferenceCommand::Directory { file } => {
                    admin::load_directory(storage.as_ref(), &read(&file)?)
                }
                ReferenceCommand::Calendar { file } => {
                    admin::load_calendar(storage.as_ref(), &read(&file)?)
                }
            }
            .map_err(|e| e.to_string())?;
            println!("reference data is now version {version}");
            Ok(())
        }
    }
}

fn serve(
    storage: Arc<dyn Storage>,
    listen: SocketAddr,
    demo: bool,
    data_dir: &std::path::Path,
) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        if demo {
            let users = admin::load_demo(storage.as_ref()).map_err(|e| e.to_string())?;
            println!(
                "Demo data loaded into {} (county 370883, Taiping Town, East Village).",
                data_dir.display()
            );
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
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("bianmin-server listening on http://{local}");
        if demo {
            println!(
                "Enrol a tablet: POST http://{local}/api/v1/enrol with one of the codes above."
            );
        }
        axum::serve(listener, app(AppState::new(storage)))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}
