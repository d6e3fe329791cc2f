//! The PostgreSQL server tests use (`BIANMIN_TEST_DATABASE_URL`, default [`DEFAULT_URL`]):
//! each test works in schemas of its own, `t_<random hex>`, dropped when it ends, even by a
//! panic. Without a reachable server the tests say so on stderr and pass, except under CI
//! (`CI` set), where they fail. Shared by every PostgreSQL test of the hub (storage, blobs, the
//! move from SQLite).

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use ::postgres::{Client, Config, NoTls};
use uuid::Uuid;

use super::{PgStorage, describe};

/// The test server unless `BIANMIN_TEST_DATABASE_URL` names another.
pub(crate) const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The variable naming the test server.
pub(crate) const URL_VARIABLE: &str = "BIANMIN_TEST_DATABASE_URL";

/// The URL with any password replaced, for messages.
pub(crate) fn shown(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        return match rest.split_once('@') {
            Some((user, host)) if user.contains(':') => {
                let name = user.split(':').next().unwrap_or("");
                format!("{scheme}://{name}:***@{host}")
            }
            _ => url.to_string(),
        };
    }
    // key=value pairs
    url.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The test server, and the schemas made on it (dropped on drop).
pub(crate) struct TestDb {
    pub(crate) url: String,
    pub(crate) schemas: Mutex<Vec<String>>,
}

/// The test server, or `None` when there is none outside CI (said once on stderr, past the
/// test harness's capture, so that a developer sees that these tests did not run).
pub(crate) fn test_db() -> Option<TestDb> {
    static REACHED: OnceLock<Result<(), String>> = OnceLock::new();
    let url = std::env::var(URL_VARIABLE).unwrap_or_else(|_| DEFAULT_URL.to_string());
    let reached = REACHED.get_or_init(|| {
        let probe = url.parse::<Config>().and_then(|mut config| {
            config.connect_timeout(Duration::from_secs(5));
            config.connect(NoTls)?.close()
        });
        let reached = probe.map_err(|e| describe(&e));
        if let Err(why) = &reached
            && std::env::var_os("CI").is_none()
        {
            let line = format!(
                "PostgreSQL tests not run: {} cannot be reached ({why}); set {URL_VARIABLE} to \
                 a PostgreSQL database to run them\n",
                shown(&url)
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        reached
    });
    match reached {
        Ok(()) => Some(TestDb {
            url,
            schemas: Mutex::new(Vec::new()),
        }),
        Err(why) if std::env::var_os("CI").is_some() => panic!(
            "PostgreSQL at {} ({URL_VARIABLE}) cannot be reached, and CI must run these \
             tests: {why}",
            shown(&url)
        ),
        Err(_) => None,
    }
}

impl TestDb {
    /// A new schema name, recorded for dropping (the schema itself is made by the first
    /// connect).
    pub(crate) fn new_schema(&self) -> String {
        let name = format!("t_{}", Uuid::new_v4().simple());
        self.schemas.lock().unwrap().push(name.clone());
        name
    }

    /// A storage in a fresh schema.
    pub(crate) fn storage(&self) -> PgStorage {
        self.open(&self.new_schema())
    }

    pub(crate) fn open(&self, schema: &str) -> PgStorage {
        PgStorage::builder(&self.url)
            .schema(schema)
            .pool_size(10)
            .connect()
            .unwrap()
    }

    /// A plain connection whose search path is `schema`.
    pub(crate) fn client(&self, schema: &str) -> Client {
        let mut config: Config = self.url.parse().unwrap();
        config.options(&format!("-c search_path={schema}"));
        config.connect(NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schemas = std::mem::take(self.schemas.get_mut().unwrap_or_else(|e| e.into_inner()));
        if schemas.is_empty() {
            return;
        }
        let dropped = Client::connect(&self.url, NoTls).and_then(|mut c| {
            for name in &schemas {
                c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))?;
            }
            c.close()
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the test schemas {schemas:?}: {e}");
        }
    }
}
