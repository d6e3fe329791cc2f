//! `bianmin-server`: the township hub.
//!
//! Not built yet. The server (storage, authentication, validating sync, console) is the work
//! of issue 3; until it lands this binary says so plainly instead of pretending to serve.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "bianmin-server is not implemented yet: the township hub arrives with the server and \
         sync issue. Today Bianmin is the offline tablet library (bianmin-client-core)."
    );
    ExitCode::from(2)
}
