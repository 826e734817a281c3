//! `run`: serve the data directory's accounts over IMAP, take mail over SMTP and LMTP, and
//! keep in sync with the paired servers by mail, until SIGTERM or Ctrl-C; then stop taking
//! new work, let what is in progress finish (the outbox stays on disk) and exit.

use crate::config::Config;
use crate::syncd::{self, Timing};
use anyhow::{Context, Result};
use nomamail_core::Durability;
use nomamail_core::SyncSettings;
use nomamail_core::accounts::Accounts;
use nomamail_core::imap::{Limits, Listener, Mailstores, ServerConfig};
use nomamail_core::mailsync::{MailSyncConfig, SyncHost, SyncState};
use nomamail_core::smtp::{LocalDelivery, SmtpConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Command-line settings that take precedence over the configuration file.
#[derive(Default)]
pub struct Overrides {
    pub imap: Option<SocketAddr>,
    pub imaps: Option<SocketAddr>,
    pub smtp: Option<SocketAddr>,
    pub lmtp: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: Option<usize>,
    pub max_literal: Option<u32>,
    pub max_line: Option<usize>,
    pub idle_timeout: Option<u64>,
}

impl Overrides {
    fn apply(self, config: &mut Config) {
        let imap = &mut config.imap;
        imap.listen = self.imap.unwrap_or(imap.listen);
        imap.listen_tls = self.imaps.or(imap.listen_tls);
        imap.tls_cert = self.tls_cert.or(imap.tls_cert.take());
        imap.tls_key = self.tls_key.or(imap.tls_key.take());
        imap.max_connections = self.max_connections.unwrap_or(imap.max_connections);
        imap.max_literal = self.max_literal.unwrap_or(imap.max_literal);
        imap.max_line = self.max_line.unwrap_or(imap.max_line);
        imap.idle_timeout_secs = self.idle_timeout.unwrap_or(imap.idle_timeout_secs);
        config.smtp.listen = self.smtp.or(config.smtp.listen);
        config.smtp.lmtp_listen = self.lmtp.or(config.smtp.lmtp_listen);
    }
}

/// Everything a server needs before it listens: its stores, certificate and sync host.
pub struct Server {
    pub data_dir: PathBuf,
    pub config: Config,
    pub stores: Arc<Mailstores>,
    pub tls: Arc<tokio_rustls::rustls::ServerConfig>,
    pub sync_host: Arc<SyncHost>,
}

/// Where a running server reports its status lines ("imap listening on …", "running").
pub type Announce = Arc<dyn Fn(&str) + Send + Sync>;

pub fn run(data_dir: &Path, mut config: Config, overrides: Overrides) -> Result<()> {
    overrides.apply(&mut config);
    let server = prepare(data_dir, config)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(server, shutdown_signal(), Arc::new(say)))
}

pub fn prepare(data_dir: &Path, config: Config) -> Result<Server> {
    let accounts = Accounts::open(data_dir)
        .with_context(|| format!("cannot open the accounts in {}", data_dir.display()))?;
    let replica_sync = SyncSettings {
        retransmit_after_ms: config.sync.retransmit_after_ms,
        ack_delay_ms: config.sync.ack_delay_ms,
        ..SyncSettings::default()
    };
    let stores = Arc::new(Mailstores::with_sync_settings(
        accounts,
        Durability::Full,
        replica_sync,
    ));
    let (cert, key) = match (config.imap.tls_cert.clone(), config.imap.tls_key.clone()) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => crate::tls::ensure_self_signed(data_dir)?,
        _ => anyhow::bail!("give both a TLS certificate and its key, or neither"),
    };
    let tls = crate::tls::server_config(&cert, &key)?;
    let sync_host = sync_host(data_dir, &config, stores.clone())?;
    Ok(Server {
        data_dir: data_dir.to_path_buf(),
        config,
        stores,
        tls,
        sync_host,
    })
}

fn sync_host(data_dir: &Path, config: &Config, stores: Arc<Mailstores>) -> Result<Arc<SyncHost>> {
    let key = crate::pair::ensure_host_key(data_dir)?;
    let state_path = crate::pair::state_path(data_dir);
    let state = SyncState::open(&state_path)
        .with_context(|| format!("opening {}", state_path.display()))?;
    let sync = &config.sync;
    Ok(Arc::new(SyncHost::new(
        key,
        state,
        stores,
        MailSyncConfig {
            name: config.server.name.clone(),
            address: sync.address.clone(),
            max_mail_bytes: sync.max_mail_bytes,
            hello_every_ms: sync.hello_every_ms,
            retransmit_after_ms: sync.retransmit_after_ms,
            retransmit_max_ms: sync.retransmit_max_ms,
            max_new_accounts_per_day: sync.max_new_accounts_per_day,
            ..MailSyncConfig::default()
        },
    )))
}

pub fn lmtp_address_path(data_dir: &Path) -> PathBuf {
    data_dir.join("lmtp.address")
}

/// Serves until `shutdown` completes, then stops taking work, lets what is in progress
/// finish and returns.
pub async fn serve(
    server: Server,
    shutdown: impl std::future::Future<Output = ()>,
    announce: Announce,
) -> Result<()> {
    let Server {
        data_dir,
        config,
        stores,
        tls,
        sync_host,
    } = server;
    let data_dir = data_dir.as_path();
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let mut tasks = tokio::task::JoinSet::new();

    let mut imap_listeners = Vec::new();
    for (address, implicit_tls) in std::iter::once((config.imap.listen, false))
        .chain(config.imap.listen_tls.map(|a| (a, true)))
    {
        let kind = if implicit_tls { "imaps" } else { "imap" };
        let socket = bind(address, kind, &announce).await?;
        imap_listeners.push(Listener {
            socket,
            implicit_tls,
        });
    }
    let imap_config = ServerConfig {
        limits: Limits {
            max_connections: config.imap.max_connections,
            max_literal: config.imap.max_literal,
            max_line: config.imap.max_line,
            idle_timeout: Duration::from_secs(config.imap.idle_timeout_secs),
            ..Limits::default()
        },
        tls: Some(tls.clone()),
        plaintext: if config.imap.require_tls {
            nomamail_core::imap::PlaintextPasswords::Never
        } else {
            nomamail_core::imap::PlaintextPasswords::LoopbackOnly
        },
        quota_kib: config.imap.quota_mib.map(|mib| mib.saturating_mul(1024)),
    };
    tasks.spawn({
        let stores = stores.clone();
        let stopped = stopped.clone();
        async move {
            nomamail_core::imap::serve_listeners(
                imap_listeners,
                stores,
                imap_config,
                until_stopped(stopped),
            )
            .await
            .context("IMAP server failed")
        }
    });

    let delivery = Arc::new(LocalDelivery::new(
        stores.clone(),
        Some(sync_host.clone()),
        config.server.hostname.clone(),
        config.smtp.domains.clone(),
    ));
    // One budget for both listeners: it bounds the daemon's memory, not a listener's.
    let buffer_budget = nomamail_core::smtp::BufferBudget::new(
        config
            .smtp
            .buffer_budget_bytes
            .max(config.smtp.max_message_bytes),
    );
    for (address, lmtp) in [(config.smtp.listen, false), (config.smtp.lmtp_listen, true)] {
        let Some(address) = address else { continue };
        let kind = if lmtp { "lmtp" } else { "smtp" };
        let socket = bind(address, kind, &announce).await?;
        if lmtp {
            // `deliver` reads where the LMTP listener really is (the port may have been 0).
            let bound = socket.local_addr().context("listener has no address")?;
            let path = lmtp_address_path(data_dir);
            std::fs::write(&path, bound.to_string())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let smtp_config = SmtpConfig {
            hostname: config.server.hostname.clone(),
            lmtp,
            max_message_bytes: config.smtp.max_message_bytes,
            max_connections: config.smtp.max_connections,
            session_deadline: std::time::Duration::from_secs(config.smtp.session_deadline_secs),
            buffer_budget: buffer_budget.clone(),
            tls: if lmtp { None } else { Some(tls.clone()) },
            ..SmtpConfig::default()
        };
        let delivery = delivery.clone();
        let stopped = stopped.clone();
        tasks.spawn(async move {
            nomamail_core::smtp::serve(socket, delivery, smtp_config, until_stopped(stopped))
                .await
                .context("SMTP listener failed")
        });
    }

    let timing = Arc::new(Timing {
        batch: Duration::from_millis(config.sync.batch_ms),
        interval: Duration::from_millis(config.sync.interval_ms.max(1)),
        send_retry_ms: config.sync.send_retry_ms,
    });
    let outbound = crate::outbound::Outbound::new(&config.sync.address, config.relay.as_ref())?;
    let (queued, queued_watch) = watch::channel(0u64);
    tasks.spawn({
        let (host, stores, timing, stopped) = (
            sync_host.clone(),
            stores.clone(),
            timing.clone(),
            stopped.clone(),
        );
        async move {
            syncd::filler(host, stores, timing, queued, stopped).await;
            Ok(())
        }
    });
    tasks.spawn({
        let (host, timing, stopped) = (sync_host.clone(), timing.clone(), stopped.clone());
        async move {
            syncd::sender(host, outbound, timing, queued_watch, stopped).await;
            Ok(())
        }
    });
    tasks.spawn(crate::admin::serve(
        data_dir.to_path_buf(),
        stores.clone(),
        stopped.clone(),
    ));
    if let Some(poll) = config.poll.clone() {
        let (host, stopped) = (sync_host.clone(), stopped.clone());
        tasks.spawn(async move {
            crate::poller::run(host, poll, stopped).await;
            Ok(())
        });
    }
    tracing::info!(
        name = config.server.name,
        key = %sync_host.public_key(),
        "server running"
    );
    announce("running");

    let failed = tokio::select! {
        _ = shutdown => None,
        Some(result) = tasks.join_next() => Some(result),
    };
    let _ = stop.send(true);
    // A task that failed or panicked makes the daemon exit non-zero, so a supervisor
    // restarts it.
    let as_outcome = |result: Result<Result<()>, tokio::task::JoinError>| match result {
        Ok(outcome) => outcome,
        Err(e) => Err(anyhow::anyhow!("a server task failed: {e}")),
    };
    let mut outcome = failed.map_or(Ok(()), as_outcome);
    while let Some(result) = tasks.join_next().await {
        if outcome.is_ok() {
            outcome = as_outcome(result);
        }
    }
    announce("stopped");
    outcome
}

async fn bind(
    address: SocketAddr,
    kind: &str,
    announce: &Announce,
) -> Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} for {kind}"))?;
    let bound = socket.local_addr().context("listener has no address")?;
    // Scripts and tests read these lines to learn the ports (useful with port 0).
    announce(&format!("{kind} listening on {bound}"));
    Ok(socket)
}

/// A status line on stdout. A closed stdout (the supervisor went away) must not stop the
/// server, so write errors are ignored rather than panicking as `println!` would.
pub fn say(line: &str) {
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
