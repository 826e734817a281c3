//! Arbitrary bytes from a client to one IMAP connection over a real store (on disk, shared
//! by all inputs): the connection loop and every handler behind it must answer, hang up or
//! wait for more, and never panic. The clock is paused, so the login throttle and timeouts
//! cost no wall time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomamail_core::Durability;
use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::state::Shared;
use nomamail_core::imap::{Limits, Mailstores, ServerConfig, connection};
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut accounts = Accounts::open(dir.path()).expect("accounts");
        accounts.add("alice", &Password::new("pw")).expect("user");
        let stores = Arc::new(Mailstores::new(accounts, Durability::Process));
        let config = ServerConfig {
            limits: Limits {
                max_literal: 64 << 10,
                max_line: 8 << 10,
                ..Limits::default()
            },
            ..ServerConfig::default()
        };
        let shared = Arc::new(Shared {
            stores,
            config,
            throttle: Default::default(),
            literals: Default::default(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        World {
            runtime,
            shared,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let shared = world.shared.clone();
    world.runtime.block_on(async move {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let peer = "127.0.0.1:9".parse().expect("address");
        let session = tokio::spawn(connection::run(
            Box::new(server),
            connection::QuickAck::none(),
            peer,
            shared,
            stop,
            false,
        ));
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        session.await.expect("the session task must not panic");
    });
});
