//! The IMAP listeners: accept connections up to a limit, run a session for each, and on
//! shutdown stop accepting, let every command in progress finish, say BYE, and return.

use super::config::ServerConfig;
use super::connection;
use super::mailstores::Mailstores;
use super::state::Shared;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// A listening socket and whether clients speak TLS from the first byte (port 993 style)
/// or may upgrade with STARTTLS.
pub struct Listener {
    pub socket: TcpListener,
    pub implicit_tls: bool,
}

/// Serves IMAP on one plain (STARTTLS-capable) listener until `shutdown` completes. Tests
/// bind `127.0.0.1:0` and pass a channel; the daemon passes SIGTERM.
pub async fn serve(
    listener: TcpListener,
    stores: Arc<Mailstores>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listener = Listener {
        socket: listener,
        implicit_tls: false,
    };
    serve_listeners(vec![listener], stores, config, shutdown).await
}

/// Serves IMAP on several listeners that share the connection limit, the login throttle
/// and the accounts.
pub async fn serve_listeners(
    listeners: Vec<Listener>,
    stores: Arc<Mailstores>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.limits.max_connections));
    let shared = Arc::new(Shared {
        stores,
        config,
        throttle: Default::default(),
        literals: Default::default(),
    });
    let (accepted_tx, mut accepted) = mpsc::channel::<(TcpStream, SocketAddr, bool)>(64);
    let mut acceptors = JoinSet::new();
    for listener in listeners {
        let accepted_tx = accepted_tx.clone();
        acceptors.spawn(async move {
            loop {
                match listener.socket.accept().await {
                    Ok((stream, peer)) => {
                        if accepted_tx
                            .send((stream, peer, listener.implicit_tls))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }
    drop(accepted_tx);
    let (stop, stopped) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let next = tokio::select! {
            _ = &mut shutdown => break,
            next = accepted.recv() => next,
        };
        let Some((mut stream, peer, implicit_tls)) = next else {
            break;
        };
        while sessions.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let acks = connection::QuickAck::of(&stream);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            sessions.spawn(async move {
                if !implicit_tls {
                    let _ = stream.write_all(b"* BYE too many connections\r\n").await;
                }
            });
            continue;
        };
        let shared = shared.clone();
        let stopped = stopped.clone();
        sessions.spawn(async move {
            connection::run(Box::new(stream), acks, peer, shared, stopped, implicit_tls).await;
            drop(slot);
        });
    }
    acceptors.abort_all();
    let _ = stop.send(true);
    while sessions.join_next().await.is_some() {}
    Ok(())
}
