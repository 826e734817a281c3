//! IMAP server benchmark: prints a table; asserts nothing about time.
//!
//! `cargo run --release -p nomamail-tests --bin bench-imap [-- --memory-only]`
//!
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
    if !memory_only {
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
