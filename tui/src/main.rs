//! `nomamail-tui`: the conflict resolver and status dashboard. Not built yet: the engine
//! already lists conflicts with both sides and records decisions (`Replica::conflicts`,
//! `Replica::resolve`); the terminal UI comes with its issue.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "nomamail-tui {}: the terminal UI is not implemented yet.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
