//! What one client can make the hub do: connections, time-outs, body sizes, password
//! hashing and photo processing. Every figure has a default that suits a township hub on a small machine and a
//! flag of `bianmin-server serve` (see `docs/operations.md`, "Limits and time-outs").

use std::time::Duration;

use crate::password::PoolConfig;

/// The hub's limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at once, in all (further clients wait in the listen backlog).
    pub max_connections: usize,
    /// Open connections at once from one address (trusted reverse proxies excepted).
    pub max_connections_per_client: usize,
    /// Time for a client to send a request's headers; also how long an idle kept-alive
    /// connection stays open.
    pub header_read_timeout: Duration,
    /// Longest pause while a request body is being sent.
    pub body_idle_timeout: Duration,
    /// Longest time to answer a console or public page, its form's body included.
    pub page_timeout: Duration,
    /// Longest time to answer a sync or attachment request, its body included.
    pub api_timeout: Duration,
    /// Largest body of a console or public form.
    pub form_body_bytes: usize,
    /// Largest body of a reference-data file uploaded in the console (catalog, calendar).
    pub import_body_bytes: usize,
    /// Largest body of a sync request (a first push of a whole village fits well within it).
    pub sync_body_bytes: usize,
    /// Largest body of a resident's form with photos (a filing, a supplement): what the
    /// photos of a request's materials straight from a phone's camera take. A larger one is
    /// read to its end (up to four times this, within the time limit) and discarded, so the
    /// phone gets a clear answer rather than a cut connection.
    pub photo_body_bytes: usize,
    /// Photos decoded and scaled at once (each takes up to a few hundred MiB while it runs; see
    /// `photos`).
    pub photo_workers: usize,
    /// Password hashing: workers and queue.
    pub hashing: PoolConfig,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_client: 64,
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            page_timeout: Duration::from_secs(30),
            api_timeout: Duration::from_secs(300),
            form_body_bytes: 64 * 1024,
            import_body_bytes: 4 * 1024 * 1024,
            sync_body_bytes: 16 * 1024 * 1024,
            photo_body_bytes: 40 * 1024 * 1024,
            photo_workers: 2,
            hashing: PoolConfig::default(),
        }
    }
}
