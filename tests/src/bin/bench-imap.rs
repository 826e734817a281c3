//! IMAP server benchmark: prints tables; asserts nothing about time.
//!
//! `TMPDIR=/dev/shm cargo run --release -p nomamail-tests --bin bench-imap [-- --memory-only | --quick]`
//!
//! First, NomaMail beside Dovecot (when it is installed and this runs as root) in the same
//! run, the same messages in both, both stores in `TMPDIR`, one plain socket client: each row
//! is the time of one workload on each and the ratio Dovecot / NomaMail (above 1: NomaMail is
//! faster). APPEND is one message at a time with a synchronizing literal and the CRLF written
//! apart from it, as imaplib, Thunderbird and imapsync do, with Nagle's algorithm on, fsync
//! on both, in rounds taken in turn on each server (the median round). The other rows run on
//! INBOX filled directly (NomaMail through its engine, with its full-text index built and its
//! search fields read in; Dovecot as Maildir files, indexed by a first SELECT that is not
//! timed).
//!
//! Then NomaMail alone:
//! The server runs in this process on loopback; the client is a bare blocking socket, so the
//! figures are the server's (and the kernel's loopback), not a client library's.
//! 1. APPEND of 1,000 realistic messages over one connection, every commit fsynced
//!    (`Durability::Full`, as the daemon runs).
//! 2. SELECT and `UID FETCH 1:* (FLAGS ENVELOPE)` on a 10,000-message mailbox.
//! 3. `UID FETCH n BODY[]` of 5 MB messages.
//! 4. Memory: resident set size before and after 100 logged-in connections sit idle with
//!    INBOX selected (client sockets are in this process too; they are small). The baseline
//!    is taken after 100 logins, so memory the allocator keeps from argon2 is not counted.

use anyhow::{Context, Result, bail};
use nomamail_core::imap::ServerConfig;
use nomamail_core::{Durability, INBOX_ID};
use nomamail_tests::imap_server::TestServer;
use nomamail_tests::wire::Wire;
use nomamail_tests::{corpus, rng::Rng};
use std::time::Instant;

fn login(server: &TestServer) -> Result<Wire> {
    let mut wire = Wire::open(server.addr)?;
    let (_, ok) = wire.command(b"LOGIN bench pw")?;
    if !ok.contains("OK") {
        bail!("login: {ok}");
    }
    Ok(wire)
}

fn append_command(message: &[u8]) -> Vec<u8> {
    let mut command = format!("APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
    command.extend_from_slice(message);
    command
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut rng = Rng::new(42);
    let memory_only = std::env::args().any(|a| a == "--memory-only");
    // For profiling one change: APPEND and the 10,000-message rows only.
    let quick = std::env::args().any(|a| a == "--quick");
    if !memory_only {
        versus_dovecot(quick)?;
        if quick {
            return Ok(());
        }
        throughput(&mut rows, &mut rng)?;
    }
    memory(&mut rows)?;
    println!("| measurement | value |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
    Ok(())
}

/// One server under test: where it listens and whom to log in as.
struct Target<'a> {
    addr: std::net::SocketAddr,
    user: &'a str,
    password: &'a str,
}

impl Target<'_> {
    fn login(&self) -> Result<Wire> {
        let mut wire = Wire::open(self.addr)?;
        let (_, ok) = wire.command(format!("LOGIN {} {}", self.user, self.password).as_bytes())?;
        if !ok.contains("OK") {
            bail!("login: {ok}");
        }
        Ok(wire)
    }
}

/// Times one command; fails unless it answers OK.
fn timed(wire: &mut Wire, command: &str) -> Result<std::time::Duration> {
    let started = Instant::now();
    let (_, ok) = wire.command(command.as_bytes())?;
    let elapsed = started.elapsed();
    if !ok.contains(" OK") {
        bail!("{command}: {ok}");
    }
    Ok(elapsed)
}

/// APPEND as imaplib writes it: the command with `{n}`, the literal after the continuation,
/// then CRLF in a write of its own, on a socket with Nagle's algorithm on.
fn append_synchronizing(wire: &mut Wire, mailbox: &str, tag: &str, message: &[u8]) -> Result<()> {
    use std::io::Write;
    wire.writer
        .write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", message.len()).as_bytes())?;
    let go_ahead = wire.line()?;
    if !go_ahead.starts_with('+') {
        bail!("append: {go_ahead}");
    }
    wire.writer.write_all(message)?;
    wire.writer.write_all(b"\r\n")?;
    let done = wire.until(tag)?;
    if !done.last().is_some_and(|l| l.contains(" OK")) {
        bail!("append: {done:?}");
    }
    Ok(())
}

/// The messages both servers get: seeded, 2–20 KB (2–4 KB for the largest mailbox, which would
/// otherwise take gigabytes of each store), a third of them seen.
fn mailbox(count: usize) -> Vec<(Vec<u8>, bool)> {
    let mut rng = Rng::new(7);
    let spread = if count > 20_000 { 2_000 } else { 18_000 };
    (0..count)
        .map(|i| {
            let body = 2_000 + (i * 7_919) % spread;
            (corpus::message(&mut rng, i as u64, body, 0), i % 3 == 0)
        })
        .collect()
}

/// Median time of `UID FETCH n (FLAGS)` for 200 random n: the per-command cost that must not
/// grow with the mailbox.
fn one_message_fetch(wire: &mut Wire, count: usize) -> Result<std::time::Duration> {
    let mut rng = Rng::new(11);
    let mut times: Vec<std::time::Duration> = (0..200)
        .map(|_| {
            let uid = 1 + rng.below(count as u64);
            timed(wire, &format!("UID FETCH {uid} (FLAGS)"))
        })
        .collect::<Result<_>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

/// A message and whether it is seen.
type Stored = (Vec<u8>, bool);

/// Fills INBOX (through the engine or as Maildir files, by `fill`), then times the workload.
const SELECT_SAMPLES: usize = 25;

/// Returns (row, seconds) pairs in a fixed order.
fn workload(
    target: &Target<'_>,
    count: usize,
    full: bool,
    fill: &dyn Fn(&[Stored]) -> Result<()>,
) -> Result<Vec<(String, f64)>> {
    let messages = mailbox(count);
    fill(&messages)?;
    let mut rows = Vec::new();
    let mut wire = target.login()?;
    // Dovecot indexes new Maildir files at the first SELECT; that is filling, not serving.
    timed(&mut wire, "SELECT INBOX")?;
    timed(&mut wire, "UNSELECT")?;
    let n = count.to_string();
    // One SELECT is a single short sample on a shared machine: the median of many.
    let mut selects = Vec::new();
    for _ in 0..SELECT_SAMPLES {
        selects.push(timed(&mut wire, "SELECT INBOX")?);
        timed(&mut wire, "UNSELECT")?;
    }
    selects.sort();
    rows.push((
        format!("SELECT INBOX, {n} messages (median of {SELECT_SAMPLES})"),
        selects[selects.len() / 2],
    ));
    timed(&mut wire, "SELECT INBOX")?;
    rows.push((
        format!("UID FETCH n (FLAGS), one message of {n} (median of 200)"),
        one_message_fetch(&mut wire, count)?,
    ));
    if count >= 100_000 {
        // The full-text index's target: a body search of the largest mailbox.
        rows.push((
            format!("UID SEARCH BODY \"invoice\", {n}"),
            timed(&mut wire, "UID SEARCH BODY invoice")?,
        ));
    }
    if full {
        rows.push((
            format!("UID FETCH 1:* (FLAGS), {n}"),
            timed(&mut wire, "UID FETCH 1:* (FLAGS)")?,
        ));
        rows.push((
            format!("UID FETCH 1:* (FLAGS ENVELOPE), {n}"),
            timed(&mut wire, "UID FETCH 1:* (FLAGS ENVELOPE)")?,
        ));
        rows.push((
            format!("UID SEARCH SUBJECT \"invoice\", {n}"),
            timed(&mut wire, "UID SEARCH SUBJECT invoice")?,
        ));
        rows.push((
            format!("UID SEARCH BODY \"invoice\", {n}"),
            timed(&mut wire, "UID SEARCH BODY invoice")?,
        ));
        rows.push((
            format!("UID SORT (REVERSE DATE) UTF-8 ALL, {n}"),
            timed(&mut wire, "UID SORT (REVERSE DATE) UTF-8 ALL")?,
        ));
        rows.push((
            format!("UID SORT (SUBJECT) UTF-8 ALL, {n}"),
            timed(&mut wire, "UID SORT (SUBJECT) UTF-8 ALL")?,
        ));
        rows.push((
            format!("UID THREAD REFERENCES UTF-8 ALL, {n}"),
            timed(&mut wire, "UID THREAD REFERENCES UTF-8 ALL")?,
        ));
        let mut rng = Rng::new(13);
        let mut rounds = Vec::new();
        for _ in 0..FETCH_ROUNDS {
            let started = Instant::now();
            for _ in 0..100 {
                let uid = 1 + rng.below(count as u64);
                timed(&mut wire, &format!("UID FETCH {uid} BODY.PEEK[]"))?;
            }
            rounds.push(started.elapsed());
        }
        rounds.sort();
        rows.push((
            format!("100 × UID FETCH n BODY.PEEK[], {n} (median of {FETCH_ROUNDS} rounds)"),
            rounds[rounds.len() / 2],
        ));
    }
    Ok(rows
        .into_iter()
        .map(|(row, time)| (row, time.as_secs_f64()))
        .collect())
}

const FETCH_ROUNDS: usize = 5;

const APPEND_ROUNDS: usize = 5;
const APPENDS_PER_ROUND: usize = 200;

/// One round of APPENDs into a fresh mailbox over an open connection: seconds per message.
fn append_round(wire: &mut Wire, round: usize, messages: &[Stored]) -> Result<f64> {
    let mailbox = format!("Appends{round}");
    timed(wire, &format!("CREATE {mailbox}"))?;
    let started = Instant::now();
    for (i, (message, _)) in messages.iter().enumerate() {
        append_synchronizing(wire, &mailbox, &format!("p{round}x{i}"), message)?;
    }
    Ok(started.elapsed().as_secs_f64() / messages.len() as f64)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// APPEND rounds taken in turn on each server, so both meet the same moments of a noisy
/// machine: the median round of each.
fn append_workload(ours: &Target<'_>, theirs: Option<&Target<'_>>) -> Result<(f64, Option<f64>)> {
    let messages = mailbox(APPENDS_PER_ROUND);
    let mut our_wire = ours.login()?;
    let mut their_wire = theirs.map(|t| t.login()).transpose()?;
    let (mut our_rounds, mut their_rounds) = (Vec::new(), Vec::new());
    for round in 0..APPEND_ROUNDS {
        our_rounds.push(append_round(&mut our_wire, round, &messages)?);
        if let Some(wire) = their_wire.as_mut() {
            their_rounds.push(append_round(wire, round, &messages)?);
        }
    }
    let theirs = (!their_rounds.is_empty()).then(|| median(their_rounds));
    Ok((median(our_rounds), theirs))
}

fn versus_dovecot(quick: bool) -> Result<()> {
    let dovecot = match nomamail_tests::dovecot::Dovecot::start() {
        Ok(dovecot) => Some(dovecot),
        Err(why) => {
            println!("(Dovecot not measured: {why})\n");
            None
        }
    };
    let mut table: Vec<(String, f64, Option<f64>)> = Vec::new();
    let sizes = [(1_000, false), (10_000, true), (100_000, false)];

    let ours = |count: usize, full: bool| -> Result<Vec<(String, f64)>> {
        let server = TestServer::start_with_durability(
            &[("bench", "pw")],
            ServerConfig::default(),
            Durability::Full,
        );
        let store = server.store("bench");
        let fill = |messages: &[(Vec<u8>, bool)]| -> Result<()> {
            for chunk in messages.chunks(2_000) {
                store.write(|r| {
                    for (i, (message, seen)) in chunk.iter().enumerate() {
                        let flags = if *seen {
                            vec!["\\Seen".to_string()]
                        } else {
                            Vec::new()
                        };
                        r.append(INBOX_ID, message, &flags, 1_790_000_000 + i as i64, 0)?;
                    }
                    Ok::<_, nomamail_core::Error>(())
                })?;
            }
            // Part of filling, as Dovecot's indexing at the first SELECT is: the full-text
            // index, and the search fields the first SELECT would start reading in the
            // background (so no timed command shares the machine with that read).
            store.read(|r| {
                while r.index_pending_texts(500)? > 0 {}
                let mut after = 0;
                while let Some(next) = r.fill_search_texts(INBOX_ID, after, 1_000)? {
                    after = next;
                }
                Ok::<_, nomamail_core::Error>(())
            })?;
            Ok(())
        };
        let target = Target {
            addr: server.addr,
            user: "bench",
            password: "pw",
        };
        workload(&target, count, full, &fill)
    };
    let theirs = |dovecot: &nomamail_tests::dovecot::Dovecot, count: usize, full: bool| {
        let fill = |messages: &[(Vec<u8>, bool)]| -> Result<()> {
            dovecot
                .store_messages(messages.iter().map(|(m, seen)| (m.as_slice(), *seen)))
                .map_err(anyhow::Error::msg)
        };
        let target = Target {
            addr: dovecot.addr,
            user: &dovecot.user,
            password: &dovecot.password,
        };
        workload(&target, count, full, &fill)
    };

    // APPEND first, on empty stores.
    {
        let server = TestServer::start_with_durability(
            &[("bench", "pw")],
            ServerConfig::default(),
            Durability::Full,
        );
        let target = Target {
            addr: server.addr,
            user: "bench",
            password: "pw",
        };
        let their_target = dovecot.as_ref().map(|d| Target {
            addr: d.addr,
            user: &d.user,
            password: &d.password,
        });
        let (ours, theirs) = append_workload(&target, their_target.as_ref())?;
        table.push((
            format!(
                "APPEND, one at a time, synchronizing literal (per message, median of \
                 {APPEND_ROUNDS} rounds of {APPENDS_PER_ROUND}, in turn)"
            ),
            ours,
            theirs,
        ));
    }
    let mut dovecot = dovecot;
    for (count, full) in sizes {
        if quick && count > 10_000 {
            continue;
        }
        let our_rows = ours(count, full)?;
        // A fresh Dovecot per size: its INBOX holds exactly this mailbox.
        let their_rows = match dovecot.take() {
            Some(old) => {
                drop(old);
                let fresh =
                    nomamail_tests::dovecot::Dovecot::start().map_err(anyhow::Error::msg)?;
                let rows = theirs(&fresh, count, full)?;
                dovecot = Some(fresh);
                Some(rows)
            }
            None => None,
        };
        for (i, (row, time)) in our_rows.into_iter().enumerate() {
            let theirs = their_rows.as_ref().and_then(|r| r.get(i)).map(|(_, t)| *t);
            table.push((row, time, theirs));
        }
    }
    let ms = |s: f64| format!("{:.3} ms", s * 1e3);
    println!("| operation | NomaMail | Dovecot | Dovecot / NomaMail |");
    println!("|---|---|---|---|");
    for (row, ours, theirs) in table {
        match theirs {
            Some(theirs) => println!(
                "| {row} | {} | {} | {:.2}× |",
                ms(ours),
                ms(theirs),
                theirs / ours
            ),
            None => println!("| {row} | {} | – | – |", ms(ours)),
        }
    }
    println!();
    Ok(())
}

fn throughput(rows: &mut Vec<(String, String)>, rng: &mut Rng) -> Result<()> {
    // 1. APPEND, durable.
    let server = TestServer::start_with_durability(
        &[("bench", "pw")],
        ServerConfig::default(),
        Durability::Full,
    );
    let mut wire = login(&server)?;
    let messages: Vec<Vec<u8>> = (0..1000)
        .map(|i| corpus::message(rng, i, 2_000 + (i as usize % 7) * 1_500, 0))
        .collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let started = Instant::now();
    for message in &messages {
        let (_, ok) = wire.command(&append_command(message))?;
        if !ok.contains("OK") {
            bail!("append: {ok}");
        }
    }
    let elapsed = started.elapsed();
    rows.push((
        "APPEND 1,000 messages, fsync per message".into(),
        format!(
            "{:.2} s, {:.0} msg/s, {:.1} MB/s ({:.1} MB)",
            elapsed.as_secs_f64(),
            1000.0 / elapsed.as_secs_f64(),
            bytes as f64 / 1e6 / elapsed.as_secs_f64(),
            bytes as f64 / 1e6
        ),
    ));
    drop(wire);
    drop(server);

    // 2. A 10,000-message mailbox, filled through the engine.
    let server = TestServer::start(&[("bench", "pw")]);
    let store = server.store("bench");
    store
        .write(|r| {
            for i in 0..10_000u64 {
                let message = corpus::message(rng, i, 1_000, 0);
                let flags = if i % 3 == 0 {
                    vec!["\\Seen".to_string()]
                } else {
                    Vec::new()
                };
                r.append(INBOX_ID, &message, &flags, 1_790_000_000 + i as i64, 0)?;
            }
            Ok::<_, nomamail_core::Error>(())
        })
        .context("fill the mailbox")?;
    let mut wire = login(&server)?;
    let started = Instant::now();
    let (_, ok) = wire.command(b"SELECT INBOX")?;
    let select = started.elapsed();
    if !ok.contains("OK") {
        bail!("select: {ok}");
    }
    rows.push((
        "SELECT INBOX, 10,000 messages".into(),
        format!("{:.1} ms", select.as_secs_f64() * 1e3),
    ));
    let started = Instant::now();
    let (data, ok) = wire.command(b"UID FETCH 1:* (FLAGS ENVELOPE)")?;
    let fetch = started.elapsed();
    if !ok.contains("OK") {
        bail!("fetch: {ok}");
    }
    rows.push((
        "UID FETCH 1:* (FLAGS ENVELOPE), 10,000 messages".into(),
        format!(
            "{:.2} s, {:.0} msg/s, {:.1} MB sent",
            fetch.as_secs_f64(),
            10_000.0 / fetch.as_secs_f64(),
            data.len() as f64 / 1e6
        ),
    ));
    let started = Instant::now();
    let (_, ok) = wire.command(b"UID FETCH 1:* (FLAGS)")?;
    let flags_only = started.elapsed();
    if !ok.contains("OK") {
        bail!("fetch flags: {ok}");
    }
    rows.push((
        "UID FETCH 1:* (FLAGS), 10,000 messages".into(),
        format!("{:.0} ms", flags_only.as_secs_f64() * 1e3),
    ));

    // 3. Large bodies.
    let large: Vec<u32> = store
        .write(|r| {
            let mut uids = Vec::new();
            for i in 0..10u64 {
                let message = corpus::message(rng, 20_000 + i, 2_000, 5 << 20);
                uids.push(r.append(INBOX_ID, &message, &[], 1_790_000_000, 0)?.uid);
            }
            Ok::<_, nomamail_core::Error>(uids)
        })
        .context("large messages")?;
    wire.command(b"NOOP")?;
    let started = Instant::now();
    let mut fetched = 0usize;
    for uid in &large {
        let (data, ok) = wire.command(format!("UID FETCH {uid} BODY.PEEK[]").as_bytes())?;
        if !ok.contains("OK") {
            bail!("fetch body: {ok}");
        }
        fetched += data.len();
    }
    let elapsed = started.elapsed();
    rows.push((
        "UID FETCH n BODY[], 10 messages of ~5 MB".into(),
        format!(
            "{:.0} ms per message, {:.0} MB/s",
            elapsed.as_secs_f64() * 1e3 / large.len() as f64,
            fetched as f64 / 1e6 / elapsed.as_secs_f64()
        ),
    ));
    Ok(())
}

fn memory(rows: &mut Vec<(String, String)>) -> Result<()> {
    // 4. 100 idle connections.
    let server = TestServer::start(&[("bench", "pw")]);
    let cold = rss_kib();
    // Logins verify argon2 hashes (19 MiB each) on blocking threads, and the allocator keeps
    // some of that memory; connect and leave 100 times first so the baseline includes it and
    // the difference is what idle sessions hold.
    for _ in 0..100 {
        let mut wire = login(&server)?;
        wire.command(b"SELECT INBOX")?;
        wire.command(b"LOGOUT")?;
    }
    let before = rss_kib();
    let heap_before = live_heap();
    let mut idle = Vec::new();
    for _ in 0..100 {
        let mut wire = login(&server)?;
        wire.command(b"SELECT INBOX")?;
        idle.push(wire);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let after = rss_kib();
    let heap_after = live_heap();
    rows.push((
        "100 idle connections (logged in, INBOX selected)".into(),
        format!(
            "live heap +{:.1} KiB per connection (server and client side); RSS {:.1} MiB cold, {:.1} after 100 logins, {:.1} with 100 idle",
            heap_after.saturating_sub(heap_before) as f64 / 1024.0 / 100.0,
            cold as f64 / 1024.0,
            before as f64 / 1024.0,
            after as f64 / 1024.0,
        ),
    ));
    drop(idle);

    // 5. A client that asks for 100 MB and does not read: the server holds a few messages'
    //    worth of output, not the whole answer.
    let store = server.store("bench");
    let mut rng = Rng::new(9);
    store
        .write(|r| {
            for i in 0..20u64 {
                let message = corpus::message(&mut rng, 30_000 + i, 2_000, 5 << 20);
                r.append(INBOX_ID, &message, &[], 1_790_000_000, 0)?;
            }
            Ok::<_, nomamail_core::Error>(())
        })
        .context("large messages")?;
    let mut slow = login(&server)?;
    slow.command(b"SELECT INBOX")?;
    let heap_before = live_heap();
    std::io::Write::write_all(&mut slow.writer, b"s1 FETCH 1:* BODY.PEEK[]\r\n")?;
    let mut peak = 0;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        peak = peak.max(live_heap().saturating_sub(heap_before));
    }
    let mut line = String::new();
    let mut received = 0usize;
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut slow.reader, &mut line)?;
        received += n;
        if n == 0 || line.starts_with("s1 ") {
            break;
        }
    }
    rows.push((
        "FETCH 1:* BODY.PEEK[] of 20 × 5 MB, client not reading for 1 s".into(),
        format!(
            "server heap peak +{:.1} MB while stalled (then {:.1} MB delivered)",
            peak as f64 / 1e6,
            received as f64 / 1e6
        ),
    ));
    Ok(())
}

/// Live heap bytes, counted by wrapping the system allocator, so memory per connection is
/// exact rather than read off RSS (which the allocator's caching blurs).
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static LIVE: AtomicUsize = AtomicUsize::new(0);

    pub struct Counting;

    // SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
    // `System`'s guarantees hold; the counter is only bookkeeping and never affects what is
    // returned.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded as received; the caller upholds `alloc`'s contract.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from this allocator (hence `System`) with this layout.
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: forwarded as received; the caller upholds `realloc`'s contract.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
                LIVE.fetch_add(new_size, Ordering::Relaxed);
            }
            p
        }
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

fn live_heap() -> usize {
    counting::LIVE.load(std::sync::atomic::Ordering::Relaxed)
}
