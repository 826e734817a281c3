//! The paper's future-work figures for the mail path, measured on two real
//! `nomamail-server` processes on loopback: propagation time of a change per hop (direct
//! SMTP between the servers, through the test relay, and through Postfix when
//! `NOMAMAIL_TEST_MTA` is set up as in `.ci/run`), mail bytes per change, and the conflict
//! rate when users change mail on both servers at once.
//!
//! `cargo build --release -p nomamail-server && cargo run --release -p nomamail-tests --bin bench-mailsync`

use nomamail_tests::daemon::{Daemon, eventually, snapshot};
use nomamail_tests::relay::FaultyRelay;
use nomamail_tests::rng::Rng;
use nomamail_tests::wire::Wire;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);
/// Changes made within `batch_ms` travel in one mail: 200 ms for the byte and conflict
/// figures (a realistic setting), 0 for propagation (the path's own time).
fn sync_settings(batch_ms: u64) -> String {
    format!(
        "batch_ms = {batch_ms}\ninterval_ms = 1000\nhello_every_ms = 1000\n\
         retransmit_after_ms = 5000\nretransmit_max_ms = 60000\nack_delay_ms = 1000\n\
         send_retry_ms = 500\n"
    )
}

fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let bin = exe.with_file_name("nomamail-server");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p nomamail-server first",
        bin.display()
    );
    bin
}

fn login(addr: SocketAddr) -> Wire {
    let mut wire = Wire::open(addr).expect("connect");
    wire.ok("LOGIN alice pw");
    wire
}

/// Number of messages in INBOX, by SELECT's EXISTS (cheap enough to poll).
fn exists(wire: &mut Wire) -> usize {
    let selected = wire.ok("SELECT INBOX");
    selected
        .lines()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" EXISTS")?.parse().ok())
        .unwrap_or(0)
}

struct Pair {
    office: Daemon,
    internet: Daemon,
    relay: Option<FaultyRelay>,
}

enum Path {
    Direct,
    TestRelay,
    Mta(SocketAddr),
}

fn start_pair(path: &Path, batch_ms: u64) -> Pair {
    let sync = sync_settings(batch_ms);
    let bin = server_binary();
    let relay = matches!(path, Path::TestRelay).then(|| FaultyRelay::start(1));
    let relay_config = match (path, &relay) {
        (Path::TestRelay, Some(relay)) => format!(
            "[relay]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n",
            relay.addr.port()
        ),
        (Path::Mta(mta), _) => format!(
            "[relay]\nhost = \"{}\"\nport = {}\nsecurity = \"none\"\n",
            mta.ip(),
            mta.port()
        ),
        _ => String::new(),
    };
    let mut office = Daemon::new(&bin, "office", &sync, &relay_config);
    let mut internet = Daemon::new(&bin, "internet", &sync, &relay_config);
    office.add_user("alice", "pw");
    office.start();
    internet.start();
    match path {
        Path::Direct => {
            office.pair_with(&internet, internet.smtp);
            internet.pair_with(&office, office.smtp);
        }
        Path::TestRelay => {
            let relay = relay.as_ref().expect("relay");
            relay.route("sync@office.test", office.smtp.expect("smtp"));
            relay.route("sync@internet.test", internet.smtp.expect("smtp"));
            office.pair_with(&internet, None);
            internet.pair_with(&office, None);
        }
        Path::Mta(_) => {
            let transport = std::env::var("NOMAMAIL_TEST_MTA_TRANSPORT")
                .unwrap_or_else(|_| "/etc/postfix/nomamail-transport".into());
            std::fs::write(
                &transport,
                format!(
                    "office.test smtp:[127.0.0.1]:{}\ninternet.test smtp:[127.0.0.1]:{}\n",
                    office.smtp.expect("smtp").port(),
                    internet.smtp.expect("smtp").port()
                ),
            )
            .expect("transport map");
            let reload = std::process::Command::new("postfix").arg("reload").output();
            assert!(reload.is_ok_and(|o| o.status.success()), "postfix reload");
            office.pair_with(&internet, None);
            internet.pair_with(&office, None);
        }
    }
    eventually(LIMIT, "the account on the internet server", || {
        snapshot(internet.imap_addr(), "alice", "pw")
    });
    Pair {
        office,
        internet,
        relay,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One-way propagation: an APPEND at the office until the internet server's INBOX shows it.
fn propagation(path: &Path, rounds: usize) -> Vec<Duration> {
    let pair = start_pair(path, 0);
    let mut at_office = login(pair.office.imap_addr());
    let mut at_internet = login(pair.internet.imap_addr());
    let mut times = Vec::new();
    for n in 0..rounds {
        let started = Instant::now();
        at_office.append_message("INBOX", &format!("hop-{n}"), &"x".repeat(2_000));
        loop {
            if exists(&mut at_internet) == n + 1 {
                break;
            }
            assert!(started.elapsed() < LIMIT, "message {n} never arrived");
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(started.elapsed());
        // Let the acknowledgement go by, so each round starts quiet.
        std::thread::sleep(Duration::from_millis(300));
    }
    times.sort();
    drop(pair);
    times
}

/// Mail bytes through the relay per flag change: one change at a time (each in its own
/// mail, with its acknowledgement), and 100 changes made in one STORE.
fn bytes_per_change() -> (f64, f64, f64) {
    let pair = start_pair(&Path::TestRelay, 200);
    let relay = pair.relay.as_ref().expect("relay");
    let mut at_office = login(pair.office.imap_addr());
    for n in 0..100 {
        at_office.append_message("INBOX", &format!("m-{n}"), &"x".repeat(500));
    }
    at_office.ok("SELECT INBOX");
    let settle = |relay: &FaultyRelay| {
        // Quiet for longer than the ack delay: every mail and acknowledgement has gone.
        let mut last = relay.counts();
        loop {
            std::thread::sleep(Duration::from_millis(2_500));
            let now = relay.counts();
            if now == last && relay.held() == 0 {
                return now;
            }
            last = now;
        }
    };
    let before = settle(relay);
    for uid in 1..=20 {
        at_office.ok(&format!("UID STORE {uid} +FLAGS (\\Seen)"));
        std::thread::sleep(Duration::from_millis(400));
    }
    let single = settle(relay);
    at_office.ok("UID STORE 1:100 +FLAGS (\\Flagged)");
    let batched = settle(relay);
    let one = (single.bytes - before.bytes) as f64 / 20.0;
    let mails = (single.received - before.received) as f64 / 20.0;
    let hundred = (batched.bytes - single.bytes) as f64 / 100.0;
    (one, mails, hundred)
}

/// Users on both servers make random changes at once; conflicts per 100 operations.
fn conflict_rate(operations_per_side: usize, seed: u64) -> (usize, usize, usize) {
    let pair = start_pair(&Path::Direct, 200);
    let mut sides = [
        login(pair.office.imap_addr()),
        login(pair.internet.imap_addr()),
    ];
    sides[0].ok("CREATE Work");
    for n in 0..40 {
        sides[0].append_message("INBOX", &format!("seed-{n}"), &"x".repeat(300));
    }
    eventually(LIMIT, "the seed messages on both", || {
        let s = snapshot(pair.internet.imap_addr(), "alice", "pw")?;
        (s.message_count() == 40 && s.mailbox("Work").is_some()).then_some(())
    });
    let mut rng = Rng::new(seed);
    let mut done = 0;
    for step in 0..operations_per_side {
        for (index, wire) in sides.iter_mut().enumerate() {
            wire.ok("SELECT INBOX");
            let found = wire.ok("UID SEARCH ALL");
            let uids: Vec<u32> = found
                .lines()
                .filter_map(|l| l.strip_prefix("* SEARCH"))
                .flat_map(|r| r.split_whitespace().filter_map(|n| n.parse().ok()))
                .collect();
            let Some(&uid) = rng.pick(&uids) else {
                wire.append_message("INBOX", &format!("refill-{index}-{step}"), &"x".repeat(300));
                continue;
            };
            match rng.below(10) {
                0..=4 => {
                    let flag = *rng
                        .pick(&["\\Seen", "\\Flagged", "$Later"])
                        .unwrap_or(&"\\Seen");
                    wire.ok(&format!("UID STORE {uid} +FLAGS ({flag})"));
                }
                5 | 6 => {
                    wire.append_message("INBOX", &format!("new-{index}-{step}"), &"x".repeat(300))
                }
                7 | 8 => {
                    let target = *rng.pick(&["Work", "Archive"]).unwrap_or(&"Work");
                    wire.ok(&format!("UID MOVE {uid} {target}"));
                }
                _ => {
                    wire.ok(&format!("UID STORE {uid} +FLAGS (\\Deleted)"));
                    wire.ok(&format!("UID EXPUNGE {uid}"));
                }
            }
            done += 1;
        }
        // About the pace of two busy users, so some changes cross in the mail.
        std::thread::sleep(Duration::from_millis(50));
    }
    eventually(LIMIT, "convergence", || {
        let o = snapshot(pair.office.imap_addr(), "alice", "pw")?;
        let i = snapshot(pair.internet.imap_addr(), "alice", "pw")?;
        (o == i).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let listed = |d: &Daemon| {
        d.cli_ok(&["conflicts", "list"], "")
            .lines()
            .filter(|l| l.contains('\t'))
            .count()
    };
    (done, listed(&pair.office), listed(&pair.internet))
}

fn main() {
    println!("| measurement | value |");
    println!("|---|---|");
    let show = |label: &str, times: &[Duration]| {
        println!(
            "| {label}: median / p90 / max of {} | {:.0} / {:.0} / {:.0} ms |",
            times.len(),
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.9).as_secs_f64() * 1e3,
            times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    };
    show(
        "propagation, office → internet, direct SMTP (one hop)",
        &propagation(&Path::Direct, 20),
    );
    show(
        "propagation through the test relay (two hops)",
        &propagation(&Path::TestRelay, 20),
    );
    match std::env::var("NOMAMAIL_TEST_MTA")
        .ok()
        .and_then(|a| a.parse().ok())
    {
        Some(mta) => show(
            "propagation through Postfix (two hops)",
            &propagation(&Path::Mta(mta), 20),
        ),
        None => {
            println!("| propagation through Postfix | not measured (NOMAMAIL_TEST_MTA unset) |")
        }
    }
    let (one, mails, hundred) = bytes_per_change();
    println!(
        "| mail bytes per flag change, one change at a time (acknowledgements included) | {one:.0} B in {mails:.1} mails |"
    );
    println!("| mail bytes per flag change, 100 changes in one STORE | {hundred:.0} B |");
    let (operations, office, internet) = conflict_rate(150, 1998);
    println!(
        "| conflicts after {operations} concurrent operations on both servers (flags, appends, moves, expunges) | {office} listed on office, {internet} on internet ({:.1} per 100 operations) |",
        office as f64 * 100.0 / operations as f64
    );
}
