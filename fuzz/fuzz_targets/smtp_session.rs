//! Arbitrary bytes from a client to one SMTP connection whose mail goes to local delivery
//! and, for sync mail, to a sync host paired with one peer (fixed keys, so seeds from
//! `fuzz-seeds --smtp` carry seals that open). The listener, the MIME reader, the seal and
//! the letter decoder must answer or hang up, never panic. The clock is paused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomamail_core::Durability;
use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::Mailstores;
use nomamail_core::mailsync::{HostKey, MailSyncConfig, Peer, SyncHost, SyncState};
use nomamail_core::smtp::{Delivery, LocalDelivery, SmtpConfig, run_session};
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The keys `fuzz-seeds --smtp` seals with: this host's, and its paired peer's.
const HOST_SECRET: [u8; 32] = [1; 32];
const PEER_SECRET: [u8; 32] = [2; 32];

struct World {
    runtime: tokio::runtime::Runtime,
    delivery: Arc<dyn Delivery>,
    config: Arc<SmtpConfig>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut accounts = Accounts::open(dir.path()).expect("accounts");
        accounts.add("alice", &Password::new("pw")).expect("user");
        let stores = Arc::new(Mailstores::new(accounts, Durability::Process));
        let mut state = SyncState::open(&dir.path().join("sync.db")).expect("sync state");
        state
            .add_peer(&Peer {
                name: "peer".into(),
                key: HostKey::from_bytes(PEER_SECRET).public(),
                address: "sync@peer.test".into(),
                endpoint: None,
            }, 0)
            .expect("peer");
        let host = Arc::new(SyncHost::new(
            HostKey::from_bytes(HOST_SECRET),
            state,
            stores.clone(),
            MailSyncConfig {
                address: "sync@host.test".into(),
                ..MailSyncConfig::default()
            },
        ));
        let delivery: Arc<dyn Delivery> = Arc::new(LocalDelivery::new(
            stores,
            Some(host),
            "host.test".into(),
            Vec::new(),
        ));
        let config = Arc::new(SmtpConfig {
            max_message_bytes: 256 << 10,
            ..SmtpConfig::default()
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        World {
            runtime,
            delivery,
            config,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let (delivery, config) = (world.delivery.clone(), world.config.clone());
    world.runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let peer = "127.0.0.1:9".parse().expect("address");
        let session = tokio::spawn(run_session(Box::new(server), peer, delivery, config, stop));
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        session.await.expect("the session task must not panic");
    });
});
