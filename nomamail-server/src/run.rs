//! `run`: serve the data directory's accounts over IMAP until SIGTERM or Ctrl-C, then let
//! the commands in progress finish and exit.

use anyhow::{Context, Result};
use nomamail_core::Durability;
use nomamail_core::accounts::Accounts;
use nomamail_core::imap::{Limits, Mailstores, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct RunOptions {
    pub imap: SocketAddr,
    pub max_connections: usize,
    pub max_literal: u32,
    pub idle_timeout_secs: u64,
}

pub fn run(data_dir: &Path, options: RunOptions) -> Result<()> {
    let accounts = Accounts::open(data_dir)
        .with_context(|| format!("cannot open the accounts in {}", data_dir.display()))?;
    let stores = Arc::new(Mailstores::new(accounts, Durability::Full));
    let config = ServerConfig {
        limits: Limits {
            max_connections: options.max_connections,
            max_literal: options.max_literal,
            idle_timeout: Duration::from_secs(options.idle_timeout_secs),
            ..Limits::default()
        },
        allow_plaintext_anywhere: false,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.imap)
            .await
            .with_context(|| format!("cannot listen on {}", options.imap))?;
        let bound = listener.local_addr().context("listener has no address")?;
        // Scripts and tests wait for this line to know the port (useful with port 0).
        println!("imap listening on {bound}");
        if !bound.ip().is_loopback() {
            eprintln!(
                "warning: {bound} is not a loopback address and TLS is not configured yet, \
                 so clients there cannot log in (LOGINDISABLED)"
            );
        }
        nomamail_core::imap::serve(listener, stores, config, shutdown_signal())
            .await
            .context("IMAP server failed")?;
        println!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        // Without a SIGTERM handler, Ctrl-C still stops the server.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
