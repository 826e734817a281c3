//! `nomamail-server`: the server daemon. Today it offers the engine demo; the IMAP listener,
//! SMTP transport and administration commands arrive with their issues.

mod demo;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "nomamail-server", version, about = "NomaMail server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an office server, an internet server and a laptop replica in this process,
    /// syncing over a lossy simulated mail path, and show what each user sees.
    Demo {
        /// Keep the replicas' databases here instead of a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Fraction of sync mails the simulated path loses.
        #[arg(long, default_value_t = 0.25)]
        loss: f64,
        /// Seed of the simulated path's losses.
        #[arg(long, default_value_t = 1998)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo {
            data_dir,
            loss,
            seed,
        } => demo::run(data_dir, loss, seed),
    }
}
