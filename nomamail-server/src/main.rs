//! `nomamail-server`: the server daemon's command line. Today: `init`, `user …` and the engine
//! `demo`; the IMAP listener (`run`), SMTP transport and pairing arrive with their issues.

mod demo;
mod users;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "nomamail-server", version, about = "NomaMail server")]
struct Cli {
    /// Data directory (accounts and mail stores). Default: the platform data directory.
    #[arg(long, env = "NOMAMAIL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory and its accounts store.
    Init,
    /// Manage the users this server serves.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Run an office server, an internet server and a laptop replica in this process,
    /// syncing over a lossy simulated mail path, and show what each user sees.
    Demo {
        /// Fraction of sync mails the simulated path loses.
        #[arg(long, default_value_t = 0.25)]
        loss: f64,
        /// Seed of the simulated path's losses.
        #[arg(long, default_value_t = 1998)]
        seed: u64,
    },
}

fn data_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(dir) => Ok(dir),
        None => Ok(dirs::data_dir()
            .context("no platform data directory: pass --data-dir")?
            .join("nomamail")),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init => users::init(&data_dir(cli.data_dir)?),
        Command::User(cmd) => users::run(&data_dir(cli.data_dir)?, cmd),
        Command::Demo { loss, seed } => demo::run(cli.data_dir, loss, seed),
    }
}
