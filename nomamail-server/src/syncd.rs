//! The daemon's sync tasks. The filler wakes on any store change (an IMAP client, a delivered
//! mail, an applied bundle), waits `batch_ms` to gather more, and queues sealed mail for each
//! peer; the sender hands the outbox to the MTA, retrying refused mail with backoff. The
//! outbox is on disk, so a stop or a crash between the two loses nothing: the next start
//! sends what is queued, and the engine resends anything not acknowledged.

use crate::outbound::Outbound;
use nomamail_core::imap::Mailstores;
use nomamail_core::mailsync::SyncHost;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct Timing {
    pub batch: Duration,
    pub interval: Duration,
    pub send_retry_ms: u64,
}

pub use nomamail_core::wallclock::now_ms;

pub async fn filler(
    host: Arc<SyncHost>,
    stores: Arc<Mailstores>,
    timing: Arc<Timing>,
    queued: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = stores.any_change();
    loop {
        let filler_host = host.clone();
        let made = tokio::task::spawn_blocking(move || filler_host.fill_outbox(now_ms())).await;
        let more = match made {
            Ok(Ok(n)) => {
                if n > 0 {
                    tracing::debug!(mails = n, "sync mail queued");
                    queued.send_modify(|v| *v += 1);
                }
                n >= host.config().max_mails_per_round
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot make sync mail");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "sync mail task failed");
                false
            }
        };
        if more {
            continue;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(timing.interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.batch) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        changes.mark_unchanged();
    }
}

pub async fn sender(
    host: Arc<SyncHost>,
    outbound: Outbound,
    timing: Arc<Timing>,
    mut queued: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let due = {
            let host = host.clone();
            tokio::task::spawn_blocking(move || host.state(|s| s.due(now_ms(), 32))).await
        };
        let due = match due {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot read the outbox");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        let busy = !due.is_empty();
        for mail in due {
            if *stop.borrow() {
                return;
            }
            let outcome = outbound.send(&mail).await;
            let host = host.clone();
            let retry_ms = timing.send_retry_ms;
            let _ = tokio::task::spawn_blocking(move || {
                host.state(|s| match outcome {
                    Ok(()) => s.sent(mail.id),
                    Err(failure) if failure.permanent => {
                        // Retrying the same mail cannot help; what it carried is resent by
                        // the engine once it goes unacknowledged.
                        tracing::error!(
                            peer = mail.peer,
                            error = failure.message,
                            "sync mail refused for good; dropped"
                        );
                        s.sent(mail.id)
                    }
                    Err(failure) => {
                        let delay = retry_ms
                            .saturating_mul(1 << mail.attempts.min(16))
                            .min(nomamail_core::mailsync::MAX_SEND_RETRY_MS);
                        tracing::warn!(
                            peer = mail.peer,
                            error = failure.message,
                            retry_in_ms = delay,
                            "sync mail not sent"
                        );
                        s.failed(mail.id, &failure.message, now_ms() + delay)
                    }
                })
            })
            .await;
        }
        if busy {
            continue;
        }
        let next = {
            let host = host.clone();
            tokio::task::spawn_blocking(move || host.state(|s| s.next_attempt()))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten()
        };
        // Never longer than the interval: a time set before the clock was stepped back
        // may lie far ahead.
        let wait = next.map_or(timing.interval, |at| {
            Duration::from_millis(at.saturating_sub(now_ms())).min(timing.interval)
        });
        tokio::select! {
            _ = queued.changed() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
