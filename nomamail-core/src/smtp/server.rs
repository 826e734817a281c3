//! Accepts SMTP/LMTP connections up to the limit, one task each; on shutdown stops
//! accepting, lets each connection finish the message it is receiving, says 421 and returns.

use super::session;
use super::{Delivery, SmtpConfig};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

pub async fn serve(
    listener: TcpListener,
    delivery: Arc<dyn Delivery>,
    config: SmtpConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let config = Arc::new(config);
    let (stop, stopped) = watch::channel(false);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (mut stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while sessions.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            sessions.spawn(async move {
                let _ = stream
                    .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                    .await;
            });
            continue;
        };
        let delivery = delivery.clone();
        let config = config.clone();
        let stopped = stopped.clone();
        sessions.spawn(async move {
            session::run(Box::new(stream), peer, delivery, config, stopped).await;
            drop(slot);
        });
    }
    let _ = stop.send(true);
    // A message being received is finished, but a client trickling one in does not get to
    // hold the shutdown up for longer than this.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        sessions.shutdown().await;
    }
    Ok(())
}
