//! `nomamail-server`: the server daemon's command line. Today: `init`, `user …`, `run` (the
//! IMAP listener) and the engine `demo`; SMTP transport and pairing arrive with their issues.

mod demo;
mod run;
mod tls;
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
    /// Serve the accounts over IMAP until SIGTERM.
    Run {
        /// Address to serve IMAP on, e.g. 127.0.0.1:1143 (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:1143")]
        imap: std::net::SocketAddr,
        /// Also serve IMAP with TLS from the first byte (port 993 style) on this address.
        #[arg(long)]
        imaps: Option<std::net::SocketAddr>,
        /// TLS certificate chain (PEM). Default: a self-signed one made in the data directory.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM) for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Connections served at once, all users together.
        #[arg(long, default_value_t = 1000)]
        max_connections: usize,
        /// Largest message or other literal a client may send, in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        max_literal: u32,
        /// Longest command line a client may send, in bytes (literals not counted).
        #[arg(long, default_value_t = 64 << 10)]
        max_line: usize,
        /// Seconds an IDLE may last before the server ends it.
        #[arg(long, default_value_t = 30 * 60)]
        idle_timeout: u64,
    },
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
        Command::Run {
            imap,
            imaps,
            tls_cert,
            tls_key,
            max_connections,
            max_literal,
            max_line,
            idle_timeout,
        } => run::run(
            &data_dir(cli.data_dir)?,
            run::RunOptions {
                imap,
                imaps,
                tls_cert,
                tls_key,
                max_connections,
                max_literal,
                max_line,
                idle_timeout_secs: idle_timeout,
            },
        ),
        Command::Demo { loss, seed } => demo::run(cli.data_dir, loss, seed),
    }
}
