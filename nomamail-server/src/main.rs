//! `nomamail-server`: the server daemon's command line. Configuration is `server.toml` under
//! the platform configuration directory (`--config`, `NOMAMAIL_CONFIG`), data under the
//! platform data directory (`--data-dir`, `NOMAMAIL_DATA_DIR`).

mod admin;
mod admin_client;
mod config;
mod conflicts;
mod deliver;
mod demo;
mod import;
mod outbound;
mod pair;
mod poller;
mod run;
mod simulate;
mod status;
mod syncd;
mod tls;
mod users;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "nomamail-server", version, about = "NomaMail server")]
struct Cli {
    /// Data directory (accounts, mail stores, keys, sync state). Default: the platform data
    /// directory.
    #[arg(long, env = "NOMAMAIL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Configuration file. Default: server.toml in the platform configuration directory.
    #[arg(long, env = "NOMAMAIL_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, this server's keys and TLS certificate, and a commented
    /// configuration file if there is none.
    Init,
    /// Manage the users this server serves.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Pair with the peer server that sync mail is exchanged with.
    #[command(subcommand)]
    Pair(pair::PairCommand),
    /// Serve IMAP, take mail over SMTP/LMTP and sync with the paired servers until SIGTERM.
    Run {
        /// IMAP address, e.g. 127.0.0.1:1143 (port 0 picks a free one).
        #[arg(long)]
        imap: Option<SocketAddr>,
        /// Also serve IMAP with TLS from the first byte (port 993 style) on this address.
        #[arg(long)]
        imaps: Option<SocketAddr>,
        /// SMTP listener address (mail for users, and sync mail).
        #[arg(long)]
        smtp: Option<SocketAddr>,
        /// LMTP listener address.
        #[arg(long)]
        lmtp: Option<SocketAddr>,
        /// TLS certificate chain (PEM). Default: a self-signed one made in the data directory.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS private key (PEM) for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// IMAP connections served at once, all users together.
        #[arg(long)]
        max_connections: Option<usize>,
        /// Largest message or other literal an IMAP client may send, in bytes.
        #[arg(long)]
        max_literal: Option<u32>,
        /// Longest IMAP command line, in bytes (literals not counted).
        #[arg(long)]
        max_line: Option<usize>,
        /// Seconds an IDLE may last before the server ends it.
        #[arg(long)]
        idle_timeout: Option<u64>,
    },
    /// Show each paired peer's last contact, unacknowledged changes, queued mail and rejects.
    Status,
    /// List, show and decide the conflicts the policy left open.
    #[command(subcommand)]
    Conflicts(conflicts::ConflictsCommand),
    /// Deliver one message from standard input into a user's INBOX (a local delivery agent).
    Deliver {
        #[arg(long)]
        user: String,
        /// Envelope sender, for the Return-Path header.
        #[arg(long, default_value = "")]
        from: String,
    },
    /// Import a Maildir or an mbox file into a user's mail (resumable; skips messages
    /// already there).
    Import {
        #[arg(long)]
        user: String,
        /// Maildir directory or mbox file.
        path: PathBuf,
        /// Target mailbox (default: INBOX, and Maildir++ subfolders by their names).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// The demo on loopback: an office and an internet server in this process, paired and
    /// syncing by sealed mail between their SMTP listeners, with an account `demo`
    /// (password `demo`) to try with any IMAP client.
    Demo {
        /// Keep the two servers' data here (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The office server's IMAP address (a free port if it is taken).
        #[arg(long, default_value = "127.0.0.1:1143")]
        office_imap: SocketAddr,
        /// The internet server's IMAP address (a free port if it is taken).
        #[arg(long, default_value = "127.0.0.1:1144")]
        internet_imap: SocketAddr,
        /// Stop after the scripted part instead of serving until Ctrl-C.
        #[arg(long)]
        exit: bool,
    },
    /// The engine alone: an office server, an internet server and a laptop replica in this
    /// process, syncing over a simulated lossy mail path, printing what each user sees.
    Simulate {
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

/// Logs go to stderr, filtered by `NOMAMAIL_LOG` (e.g. `debug`, `nomamail_core=debug`).
fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NOMAMAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> Result<ExitCode> {
    // Everything this daemon makes (stores, keys, the admin socket, logs) is its owner's
    // alone, whatever umask it was started with.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    // The demo's own lines tell the story; its servers' routine logs would drown them.
    init_logging(if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        "info"
    });
    let config_path = config::path(cli.config)?;
    let load = || config::load(&config_path);
    match cli.command {
        Command::Init => {
            let dir = data_dir(cli.data_dir)?;
            users::init(&dir)?;
            let key = pair::ensure_host_key(&dir)?;
            println!("server key: {}", key.public());
            if config::write_template(&config_path)? {
                println!("configuration written to {}", config_path.display());
            }
        }
        Command::User(cmd) => users::run(&data_dir(cli.data_dir)?, cmd)?,
        Command::Pair(cmd) => pair::run(&data_dir(cli.data_dir)?, &load()?, cmd)?,
        Command::Run {
            imap,
            imaps,
            smtp,
            lmtp,
            tls_cert,
            tls_key,
            max_connections,
            max_literal,
            max_line,
            idle_timeout,
        } => run::run(
            &data_dir(cli.data_dir)?,
            load()?,
            run::Overrides {
                imap,
                imaps,
                smtp,
                lmtp,
                tls_cert,
                tls_key,
                max_connections,
                max_literal,
                max_line,
                idle_timeout,
            },
        )?,
        Command::Status => status::run(&data_dir(cli.data_dir)?, &load()?)?,
        Command::Import {
            user,
            path,
            mailbox,
        } => import::run(&data_dir(cli.data_dir)?, &user, &path, mailbox.as_deref())?,
        Command::Conflicts(cmd) => conflicts::run(&data_dir(cli.data_dir)?, cmd)?,
        Command::Deliver { user, from } => {
            return deliver::run(&data_dir(cli.data_dir)?, &load()?, &user, &from);
        }
        Command::Demo {
            dir,
            office_imap,
            internet_imap,
            exit,
        } => demo::run(demo::DemoOptions {
            dir,
            office_imap,
            internet_imap,
            exit,
        })?,
        Command::Simulate { loss, seed } => simulate::run(cli.data_dir, loss, seed)?,
    }
    Ok(ExitCode::SUCCESS)
}
