//! The IMAP listener: accepts connections up to a limit, runs a session for each, and on
//! shutdown stops accepting, lets every command in progress finish, says BYE, and returns.

use super::config::ServerConfig;
use super::connection;
use super::mailstores::Mailstores;
use super::session::Shared;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Serves IMAP on `listener` until `shutdown` completes. Tests bind `127.0.0.1:0` and pass
/// a channel; the daemon passes SIGTERM.
pub async fn serve(
    listener: TcpListener,
    stores: Arc<Mailstores>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.limits.max_connections));
    let shared = Arc::new(Shared {
        stores,
        config,
        throttle: Default::default(),
    });
    let (stop, stopped) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while sessions.try_join_next().is_some() {}
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            sessions.spawn(async move {
                let _ = stream.write_all(b"* BYE too many connections\r\n").await;
            });
            continue;
        };
        let shared = shared.clone();
        let stopped = stopped.clone();
        sessions.spawn(async move {
            connection::run(Box::new(stream), peer, shared, stopped, false).await;
            drop(slot);
        });
    }
    let _ = stop.send(true);
    while sessions.join_next().await.is_some() {}
    Ok(())
}
