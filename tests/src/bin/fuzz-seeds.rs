//! Writes real bundles into a directory, as a starting corpus for the fuzz targets in `fuzz/`
//! (a fuzzer that starts from valid bundles gets past the magic, zstd and CBOR at once).
//!
//! Usage: fuzz-seeds DIR

use anyhow::{Context, Result};
use nomamail_core::{Durability, FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions};
use nomamail_tests::{corpus, rng::Rng};

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).context("usage: fuzz-seeds DIR")?;
    std::fs::create_dir_all(&dir).context("creating the corpus directory")?;
    let open = |id| {
        let mut o = ReplicaOptions::new(ReplicaId(id), 5);
        o.durability = Durability::Process;
        Replica::open_in_memory(o)
    };
    // Replica 1 sends to replica 2: the fuzz target `bundle_apply` plays replica 2.
    let (mut a, mut b) = (open(1)?, open(2)?);
    a.add_peer(b.id())?;
    b.add_peer(a.id())?;
    let mut rng = Rng::new(3);
    let mut written = 0;
    for round in 0..12u64 {
        let work = a.mailbox("Work")?.map(|m| m.id);
        let work = match work {
            Some(id) => id,
            None => a.create_mailbox("Work")?,
        };
        let size = if round % 4 == 3 { 40_000 } else { 600 };
        let m = a.append(
            INBOX_ID,
            &corpus::message(&mut rng, round, size, 0),
            &["\\Seen".into()],
            0,
            0,
        )?;
        if round % 2 == 1 {
            a.store_flags(&[m.id], FlagOp::Add, &["$Work".into(), "\\Flagged".into()])?;
        }
        if round % 3 == 2 {
            a.move_to(&[m.id], work)?;
        }
        if round % 5 == 4 {
            a.expunge(&[m.id])?;
        }
        while let Some(wire) = a.outgoing(b.id(), round * 1000, 16 * 1024)? {
            std::fs::write(format!("{dir}/bundle-{written:03}"), &wire)?;
            written += 1;
            b.incoming(a.id(), &wire, round * 1000)?;
        }
        while let Some(wire) = b.outgoing(a.id(), round * 1000, 16 * 1024)? {
            a.incoming(b.id(), &wire, round * 1000)?;
        }
    }
    println!("{written} bundles written to {dir}");
    Ok(())
}
