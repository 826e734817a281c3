//! `demo`: the real thing on loopback, with embedded defaults. An office server and an
//! internet server run in this process, each with its IMAP, SMTP and LMTP listeners; they are
//! paired and keep in sync only by sealed mail between their SMTP listeners. The account
//! `demo` (password `demo`) is created on the office only and arrives at the internet server
//! by mail, with a welcome message; a flag set on one side shows on the other. Then both
//! stay up for a mail client until Ctrl-C (or stop at once with `--exit`).

use crate::config::Config;
use crate::run::{self, Announce};
use anyhow::{Context, Result};
use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::Mailstores;
use nomamail_core::mailsync::{Peer, SyncState};
use nomamail_core::{FlagOp, INBOX_ID};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const USER: &str = "demo";
const PASSWORD: &str = "demo";
const WAIT: Duration = Duration::from_secs(60);

pub struct DemoOptions {
    pub dir: Option<PathBuf>,
    pub office_imap: SocketAddr,
    pub internet_imap: SocketAddr,
    pub exit: bool,
}

fn config(name: &str, imap: SocketAddr) -> Config {
    let mut config = Config::default();
    config.server.name = name.to_string();
    config.server.hostname = format!("{name}.demo");
    config.imap.listen = imap;
    config.smtp.listen = Some(([127, 0, 0, 1], 0).into());
    config.smtp.lmtp_listen = None;
    config.sync.address = format!("sync@{name}.demo");
    config.sync.endpoint = None;
    config.sync.batch_ms = 50;
    config.sync.hello_every_ms = 1_000;
    config.sync.retransmit_after_ms = 5_000;
    config.sync.ack_delay_ms = 500;
    config
}

/// An address that is free now: the one asked for, else any free port.
fn free_or_any(wanted: SocketAddr) -> SocketAddr {
    match std::net::TcpListener::bind(wanted) {
        Ok(_) => wanted,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

pub fn run(options: DemoOptions) -> Result<()> {
    let temp;
    let dir = match options.dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("cannot make a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let office_dir = dir.join("office");
    let internet_dir = dir.join("internet");
    for data in [&office_dir, &internet_dir] {
        Accounts::open(data).with_context(|| format!("initialising {}", data.display()))?;
        crate::pair::ensure_host_key(data)?;
    }
    {
        let mut accounts = Accounts::open(&office_dir)?;
        if accounts.get(USER)?.is_none() {
            accounts.add(USER, &Password::new(PASSWORD))?;
        }
    }
    let office = run::prepare(
        &office_dir,
        config("office", free_or_any(options.office_imap)),
    )?;
    let internet = run::prepare(
        &internet_dir,
        config("internet", free_or_any(options.internet_imap)),
    )?;
    let office_stores = office.stores.clone();
    let internet_stores = internet.stores.clone();
    let keys = (
        office.sync_host.public_key(),
        internet.sync_host.public_key(),
    );

    let addresses: Arc<Mutex<HashMap<String, SocketAddr>>> = Arc::default();
    let announcer = |name: &'static str| -> Announce {
        let addresses = addresses.clone();
        Arc::new(move |line: &str| {
            if let Some((kind, address)) = line.split_once(" listening on ")
                && let Ok(address) = address.parse()
            {
                let mut known = addresses.lock().unwrap_or_else(|p| p.into_inner());
                known.insert(format!("{name} {kind}"), address);
            }
        })
    };
    let office_announce = announcer("office");
    let internet_announce = announcer("internet");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (stop, stopped) = watch::channel(false);
        let until = |mut stopped: watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let office_task = tokio::spawn(run::serve(office, until(stopped.clone()), office_announce));
        let internet_task = tokio::spawn(run::serve(
            internet,
            until(stopped.clone()),
            internet_announce,
        ));
        let address = |key: &str| -> Result<SocketAddr> {
            let deadline = Instant::now() + WAIT;
            loop {
                if let Some(a) = addresses.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
                    return Ok(*a);
                }
                anyhow::ensure!(Instant::now() < deadline, "{key} did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let (office_smtp, internet_smtp) = (address("office smtp")?, address("internet smtp")?);
        let (office_imap, internet_imap) = (address("office imap")?, address("internet imap")?);
        println!("office server:   IMAP {office_imap}, SMTP {office_smtp}");
        println!("internet server: IMAP {internet_imap}, SMTP {internet_smtp}");

        pair(
            &office_dir,
            "internet",
            keys.1,
            "sync@internet.demo",
            internet_smtp,
        )?;
        pair(
            &internet_dir,
            "office",
            keys.0,
            "sync@office.demo",
            office_smtp,
        )?;
        println!("paired: sync mail only, sealed with each other's keys");

        let script = tokio::task::spawn_blocking(move || script(&office_stores, &internet_stores));
        script.await.context("demo script")??;

        println!();
        println!("Try it with any IMAP client: user {USER}, password {PASSWORD}, at");
        println!("  office   {office_imap}");
        println!("  internet {internet_imap}");
        println!("Both show one mailbox: change it on one, watch it change on the other.");
        if !options.exit {
            println!("Ctrl-C stops both servers.");
            let _ = tokio::signal::ctrl_c().await;
        }
        let _ = stop.send(true);
        office_task.await.context("office server")??;
        internet_task.await.context("internet server")??;
        println!("stopped");
        Ok(())
    })
}

fn pair(
    data_dir: &Path,
    name: &str,
    key: nomamail_core::mailsync::PeerKey,
    address: &str,
    endpoint: SocketAddr,
) -> Result<()> {
    let mut state = SyncState::open(&crate::pair::state_path(data_dir))?;
    if state.peer(name)?.is_none() {
        state.add_peer(
            &Peer {
                name: name.to_string(),
                key,
                address: address.to_string(),
                endpoint: Some(endpoint.to_string()),
            },
            crate::syncd::now_ms(),
        )?;
    }
    Ok(())
}

fn wait_for(what: &str, started: Instant, mut check: impl FnMut() -> bool) -> Result<()> {
    while !check() {
        anyhow::ensure!(started.elapsed() < WAIT, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("  {what}: {} ms", started.elapsed().as_millis());
    Ok(())
}

fn script(office: &Mailstores, internet: &Mailstores) -> Result<()> {
    let welcome = format!(
        "From: NomaMail <demo@office.demo>\r\nTo: {USER}@office.demo\r\nSubject: Welcome\r\n\
         Date: {}\r\n\r\nThis message was written on the office server and reached the \
         internet server as sealed sync mail.\r\n",
        chrono::Utc::now().to_rfc2822()
    );
    let store = office.open(USER)?;
    let appended = store.write(|r| {
        r.append(
            INBOX_ID,
            welcome.as_bytes(),
            &[],
            chrono::Utc::now().timestamp(),
            0,
        )
    })?;
    println!();
    println!(
        "office: account {USER} created here only; a welcome message appended as UID {}",
        appended.uid
    );
    let started = Instant::now();
    wait_for(
        "account and message on the internet server",
        started,
        || {
            internet
                .open(USER)
                .ok()
                .and_then(|s| s.read(|r| r.entries(INBOX_ID).ok()))
                .is_some_and(|e| e.len() == 1)
        },
    )?;
    let there = internet.open(USER)?;
    let uid = there.read(|r| r.entries(INBOX_ID))?[0].uid;
    println!("internet: the message has UID {uid} there too");
    let id = there.read(|r| r.entries(INBOX_ID))?[0].id;
    there.write(|r| r.store_flags(&[id], FlagOp::Add, &["\\Flagged".to_string()]))?;
    println!("internet: flagged it");
    let started = Instant::now();
    wait_for("the flag on the office server", started, || {
        store.read(|r| r.entries(INBOX_ID).ok()).is_some_and(|e| {
            e.first()
                .is_some_and(|e| e.flags.contains(&"\\Flagged".to_string()))
        })
    })?;
    Ok(())
}
