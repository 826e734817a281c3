//! `nomamail-client`: the laptop daemon (a local IMAP cache on 127.0.0.1 syncing with the
//! office server over the link transport). Not built yet: the replica engine it will run is
//! in `nomamail-core`; the IMAP front-end and the link transport come with their issues.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "nomamail-client {}: the laptop cache is not implemented yet. \
         Try `cargo run -p nomamail-server -- demo` for the replica engine.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
