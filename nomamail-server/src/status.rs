//! `status`: each paired peer's last contact, mail counts, queued mail and rejects, and per
//! account the changes the peer has not acknowledged yet. It reads the stores beside a
//! running daemon (read-only), so it works whether or not the daemon runs.

use anyhow::{Context, Result};
use nomamail_core::Replica;
use nomamail_core::accounts::Accounts;
use nomamail_core::mailsync::SyncState;
use std::path::Path;

fn when(ms: Option<u64>, now_ms: u64) -> String {
    match ms {
        None => "never".into(),
        Some(ms) => {
            let at = chrono::DateTime::from_timestamp_millis(ms as i64).map_or_else(
                || ms.to_string(),
                |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            );
            format!("{at} ({} s ago)", now_ms.saturating_sub(ms) / 1000)
        }
    }
}

pub fn run(data_dir: &Path, config: &crate::config::Config) -> Result<()> {
    let key = crate::pair::host_key(data_dir)?;
    let state_path = crate::pair::state_path(data_dir);
    let state = SyncState::open(&state_path)
        .with_context(|| format!("opening {}", state_path.display()))?;
    let accounts = Accounts::open(data_dir)?;
    let now = crate::syncd::now_ms();
    println!("server {} (key {})", config.server.name, key.public());
    println!("sync address: {}", config.sync.address);
    println!("queued sync mail: {}", state.queued()?);
    println!(
        "sync mail refused from unpaired senders: {}",
        state.unpaired_rejects()?
    );
    let users = accounts.list()?;
    let peers = state.peers()?;
    if peers.is_empty() {
        println!("no paired peers (see `nomamail-server pair`)");
    }
    for record in &peers {
        let peer = &record.peer;
        println!();
        println!("peer {} <{}>", peer.name, peer.address);
        println!("  last contact: {}", when(record.last_contact_ms, now));
        let heard_ms = record.last_contact_ms.unwrap_or(record.paired_ms);
        let silent_days = now.saturating_sub(heard_ms) / 86_400_000;
        if silent_days >= config.sync.silent_peer_days {
            println!(
                "  holding up purges: silent for {silent_days} days, so expunged mail's \
                 tombstones and bodies wait for it; if it is gone for good, \
                 `nomamail-server pair remove {}` forgets it",
                peer.name
            );
        }
        println!(
            "  mails in: {}  out: {}  queued: {}  rejected: {}",
            record.mails_in, record.mails_out, record.queued, record.rejects
        );
        if let Some(carried) = &record.accounts {
            println!("  carries only: {}", carried.join(", "));
        }
        for user in users.iter().filter(|u| record.carries(&u.user)) {
            let Some(their_replica) = state.peer_replica(&peer.name, &user.user)? else {
                println!("  {}: waiting for the peer's first mail", user.user);
                continue;
            };
            let path = accounts.replica_path(&user.user);
            let mut replica = Replica::open_read_only(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            if replica.relearning() {
                println!(
                    "  {}: relearning (the store was restored from a backup or a snapshot, or made anew): \
                     IMAP logins and new mail wait until it has caught up with the paired \
                     servers; `nomamail-server pair remove NAME` stops it waiting for one that \
                     is gone",
                    user.user
                );
            }
            let status = replica
                .peers()?
                .into_iter()
                .find(|p| p.peer == their_replica);
            match status {
                Some(status) => {
                    println!(
                        "  {}: unacknowledged changes: {}  bundles in/out: {}/{}  bytes in/out: {}/{}",
                        user.user,
                        status.unacknowledged,
                        status.bundles_in,
                        status.bundles_out,
                        status.bytes_in,
                        status.bytes_out
                    );
                    if status.quarantined > 0 {
                        println!(
                            "  {}: {} item states from this peer set aside (ill formed or \
                             not mergeable), the rest applied; the daemon's log names each",
                            user.user, status.quarantined
                        );
                    }
                }
                None => println!("  {}: not yet introduced", user.user),
            }
        }
    }
    let rejects = state.recent_rejects(10)?;
    if !rejects.is_empty() {
        println!();
        println!("recent refusals:");
        for reject in rejects {
            println!(
                "  {}  {}  {}",
                when(Some(reject.at_ms), now),
                reject.peer.as_deref().unwrap_or("-"),
                reject.reason
            );
        }
    }
    Ok(())
}
