//! `run`: serve the data directory's accounts over IMAP until SIGTERM or Ctrl-C, then let
//! the commands in progress finish and exit.

use anyhow::{Context, Result};
use nomamail_core::Durability;
use nomamail_core::accounts::Accounts;
use nomamail_core::imap::{Limits, Listener, Mailstores, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct RunOptions {
    pub imap: SocketAddr,
    pub imaps: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    pub max_literal: u32,
    pub max_line: usize,
    pub idle_timeout_secs: u64,
}

pub fn run(data_dir: &Path, options: RunOptions) -> Result<()> {
    let accounts = Accounts::open(data_dir)
        .with_context(|| format!("cannot open the accounts in {}", data_dir.display()))?;
    let stores = Arc::new(Mailstores::new(accounts, Durability::Full));
    let (cert, key) = match (options.tls_cert, options.tls_key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => crate::tls::ensure_self_signed(data_dir)?,
        _ => anyhow::bail!("give both --tls-cert and --tls-key, or neither"),
    };
    let tls = crate::tls::server_config(&cert, &key)?;
    let config = ServerConfig {
        limits: Limits {
            max_connections: options.max_connections,
            max_literal: options.max_literal,
            max_line: options.max_line,
            idle_timeout: Duration::from_secs(options.idle_timeout_secs),
            ..Limits::default()
        },
        tls: Some(tls),
        allow_plaintext_anywhere: false,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for (address, implicit_tls) in
            std::iter::once((options.imap, false)).chain(options.imaps.map(|a| (a, true)))
        {
            let socket = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}"))?;
            let bound = socket.local_addr().context("listener has no address")?;
            // Scripts and tests read these lines to learn the ports (useful with port 0).
            let kind = if implicit_tls { "imaps" } else { "imap" };
            say(&format!("{kind} listening on {bound}"));
            listeners.push(Listener {
                socket,
                implicit_tls,
            });
        }
        nomamail_core::imap::serve_listeners(listeners, stores, config, shutdown_signal())
            .await
            .context("IMAP server failed")?;
        say("stopped");
        Ok(())
    })
}

/// A status line on stdout. A closed stdout (the supervisor went away) must not stop the
/// server, so write errors are ignored rather than panicking as `println!` would.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
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
