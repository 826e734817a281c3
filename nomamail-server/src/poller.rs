//! Reads sync mail from a mailbox on another IMAP server (async-imap), for a server that has
//! only a hosted mailbox and receives no SMTP itself. Each mail is handed to the sync host
//! like one from the listener, then deleted from the mailbox, applied or refused alike (a
//! refusal is logged and counted; keeping the mail would only retry it for ever). A mail that
//! hit a temporary error stays for the next round, and mail that is not sync mail is left
//! alone. IDLE is used where the server offers it.

use crate::config::PollSection;
use crate::syncd::now_ms;
use anyhow::{Context, Result};
use futures::TryStreamExt;
use nomamail_core::mailsync::{SyncHost, is_sync_mail};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::rustls;

const RECONNECT_AFTER: Duration = Duration::from_secs(30);
/// RFC 2177: re-issue IDLE at least every 29 minutes.
const IDLE_FOR: Duration = Duration::from_secs(25 * 60);

pub async fn run(host: Arc<SyncHost>, poll: PollSection, mut stop: watch::Receiver<bool>) {
    loop {
        let outcome = tokio::select! {
            outcome = connect_and_poll(&host, &poll) => outcome,
            _ = stop.wait_for(|s| *s) => return,
        };
        if let Err(e) = outcome {
            tracing::warn!(
                error = format!("{e:#}"),
                host = poll.host,
                "sync mailbox poll failed"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn connect_and_poll(host: &Arc<SyncHost>, poll: &PollSection) -> Result<()> {
    let password = crate::config::read_secret(&poll.password_file)?;
    let tcp = TcpStream::connect((poll.host.as_str(), poll.port))
        .await
        .with_context(|| format!("connecting to {}:{}", poll.host, poll.port))?;
    if poll.tls {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(poll.host.clone())
            .context("the poll host is not a valid TLS name")?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .context("TLS handshake with the poll host")?;
        session(host, poll, &password, stream).await
    } else {
        session(host, poll, &password, tcp).await
    }
}

async fn session<T>(
    host: &Arc<SyncHost>,
    poll: &PollSection,
    password: &str,
    stream: T,
) -> Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug,
{
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .context("reading the greeting")?
        .context("no greeting")?;
    let mut session = client
        .login(&poll.username, password)
        .await
        .map_err(|(e, _)| e)
        .context("logging in to the sync mailbox")?;
    let idle = session
        .capabilities()
        .await
        .context("CAPABILITY")?
        .has_str("IDLE");
    session
        .select(&poll.mailbox)
        .await
        .with_context(|| format!("selecting {}", poll.mailbox))?;
    loop {
        drain(host, &mut session).await?;
        if idle {
            let mut handle = session.idle();
            handle.init().await.context("IDLE")?;
            let (wait, _interrupt) = handle.wait_with_timeout(IDLE_FOR);
            wait.await.context("waiting in IDLE")?;
            session = handle.done().await.context("DONE")?;
        } else {
            tokio::time::sleep(Duration::from_millis(poll.interval_ms.max(1000))).await;
            session.noop().await.context("NOOP")?;
        }
    }
}

/// Applies every mail in the selected mailbox and removes the ones that are dealt with.
async fn drain<T>(host: &Arc<SyncHost>, session: &mut async_imap::Session<T>) -> Result<()>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug,
{
    let uids = session.uid_search("ALL").await.context("UID SEARCH")?;
    if uids.is_empty() {
        return Ok(());
    }
    let mut done = Vec::new();
    for uid in uids {
        let fetched: Vec<_> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await
            .context("UID FETCH")?
            .try_collect()
            .await
            .context("UID FETCH")?;
        let Some(raw) = fetched.iter().find_map(|f| f.body().map(<[u8]>::to_vec)) else {
            continue;
        };
        if !is_sync_mail(&raw) {
            // Not ours to judge or to delete: a bounce or a person's mail stays where it is.
            continue;
        }
        let host = host.clone();
        let outcome = tokio::task::spawn_blocking(move || host.receive(&raw, now_ms()))
            .await
            .context("sync task failed")?;
        match outcome {
            Ok(accepted) => {
                tracing::info!(
                    peer = accepted.peer,
                    account = accepted.account,
                    seq = accepted.seq,
                    "polled sync mail applied"
                );
                done.push(uid);
            }
            // Trouble on our side (the sync state or a store): the mail stays for next time.
            Err(rejection) if rejection.is_temporary() => {
                tracing::warn!(%rejection, "polled sync mail left for later");
            }
            Err(_) => done.push(uid),
        }
    }
    if !done.is_empty() {
        let set = done
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let _: Vec<_> = session
            .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
            .await
            .context("UID STORE")?
            .try_collect()
            .await
            .context("UID STORE")?;
        let _: Vec<_> = session
            .expunge()
            .await
            .context("EXPUNGE")?
            .try_collect()
            .await
            .context("EXPUNGE")?;
    }
    Ok(())
}
