//! Replica engine benchmark: prints a table; asserts nothing about time.
//!
//! `cargo run --release -p nomamail-tests --bin bench-engine [-- --quick]`
//!
//! 1. Initial sync of 10,000 realistic messages (1 % with a 1 MB attachment) between two
//!    in-memory replicas: messages per second, wire bytes against raw bytes.
//! 2. Incremental sync of 100 flag changes in stores of 10,000 and 100,000 messages: wire
//!    bytes and time, which should not grow with the store.

use anyhow::Result;
use nomamail_core::{Durability, FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions};
use nomamail_tests::{corpus, rng::Rng};
use std::time::Instant;

const BUNDLE_BYTES: usize = 1 << 20;

fn replica(id: u64) -> Result<Replica> {
    let mut o = ReplicaOptions::new(ReplicaId(id), 99);
    o.durability = Durability::Process;
    Ok(Replica::open_in_memory(o)?)
}

fn pair() -> Result<(Replica, Replica)> {
    let (mut a, mut b) = (replica(1)?, replica(2)?);
    a.add_peer(b.id())?;
    b.add_peer(a.id())?;
    Ok((a, b))
}

/// Everything a has for b and back, until quiet. Returns (bundles, wire bytes a→b, b→a).
fn sync(a: &mut Replica, b: &mut Replica, now: u64) -> Result<(u64, u64, u64)> {
    let (mut n, mut ab, mut ba) = (0, 0, 0);
    loop {
        let mut moved = false;
        while let Some(w) = a.outgoing(b.id(), now, BUNDLE_BYTES)? {
            ab += w.len() as u64;
            b.incoming(a.id(), &w, now)?;
            n += 1;
            moved = true;
        }
        while let Some(w) = b.outgoing(a.id(), now, BUNDLE_BYTES)? {
            ba += w.len() as u64;
            a.incoming(b.id(), &w, now)?;
            n += 1;
            moved = true;
        }
        if !moved {
            return Ok((n, ab, ba));
        }
    }
}

fn fill(
    r: &mut Replica,
    rng: &mut Rng,
    count: u64,
    big_every: u64,
    body: (u64, u64),
) -> Result<u64> {
    let mut raw = 0;
    for i in 0..count {
        let attachment = if big_every > 0 && i % big_every == big_every - 1 {
            1 << 20
        } else {
            0
        };
        let body_bytes = rng.range(body.0, body.1) as usize;
        let m = corpus::message(rng, i, body_bytes, attachment);
        raw += m.len() as u64;
        r.append(INBOX_ID, &m, &[], 1_700_000_000 + i as i64, 0)?;
    }
    Ok(raw)
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let mut rng = Rng::new(7);
    println!("| measurement | value |");
    println!("|---|---|");

    let count = 10_000 / scale;
    let (mut a, mut b) = pair()?;
    let t = Instant::now();
    let raw = fill(&mut a, &mut rng, count, 100, (1500, 6000))?;
    let fill_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (bundles, ab, ba) = sync(&mut a, &mut b, 0)?;
    let sync_s = t.elapsed().as_secs_f64();
    assert_eq!(b.entries(INBOX_ID)?.len() as u64, count);
    println!(
        "| local APPEND of {count} messages ({:.1} MB raw) | {:.0} msg/s |",
        raw as f64 / 1e6,
        count as f64 / fill_s
    );
    println!(
        "| initial sync of {count} messages | {:.2} s, {:.0} msg/s, {bundles} bundles of ≤ 1 MiB |",
        sync_s,
        count as f64 / sync_s
    );
    println!(
        "| initial sync wire bytes / raw bytes | {:.3} ({:.1} MB → {:.1} MB, acks back {:.1} KB) |",
        ab as f64 / raw as f64,
        raw as f64 / 1e6,
        ab as f64 / 1e6,
        ba as f64 / 1e3
    );

    for size in [10_000 / scale, 100_000 / scale] {
        let (mut a, mut b) = pair()?;
        fill(&mut a, &mut rng, size, 0, (300, 800))?;
        sync(&mut a, &mut b, 0)?;
        let ids: Vec<_> = a.entries(INBOX_ID)?.into_iter().map(|e| e.id).collect();
        let t = Instant::now();
        for i in 0..100 {
            let id = ids[(i * 7919) % ids.len()];
            a.store_flags(&[id], FlagOp::Add, &["\\Seen".to_string()])?;
        }
        let local = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let (bundles, ab, ba) = sync(&mut a, &mut b, 1)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "| 100 flag changes, store of {size}: sync | {:.1} ms, {bundles} bundles, {ab} B out + {ba} B back ({:.0} B per change); local STOREs {:.1} ms |",
            s * 1e3,
            (ab + ba) as f64 / 100.0,
            local * 1e3
        );
    }
    Ok(())
}
