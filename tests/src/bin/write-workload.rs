//! A write-heavy workload on one replica, for the crash test: it prints a line for every
//! operation *after* the operation returned, so whatever the parent has read was acknowledged.
//!
//! Usage: write-workload DB START
//! Lines: `append N ENTRY`, `flag ENTRY KEYWORD`, `expunging ENTRY` (before), `expunge ENTRY`.

use anyhow::{Context, Result};
use nomamail_core::{FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions};
use std::io::Write;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().context("usage: write-workload DB START")?;
    let start: u64 = args
        .next()
        .context("START missing")?
        .parse()
        .context("START is a number")?;
    let mut replica =
        Replica::open(db.as_ref(), ReplicaOptions::new(ReplicaId(7), 1)).context("open")?;
    let out = std::io::stdout();
    let mut live = Vec::new();
    for n in start.. {
        let body = format!(
            "Subject: crash test {n}\r\n\r\n{}\r\n",
            "x".repeat((n % 50) as usize * 40)
        );
        let a = replica
            .append(INBOX_ID, body.as_bytes(), &[], n as i64, 0)
            .context("append")?;
        writeln!(out.lock(), "append {n} {}", a.id)?;
        live.push(a.id);
        if n % 3 == 0 {
            let target = live[(n as usize * 7) % live.len()];
            let keyword = format!("$k{n}");
            replica
                .store_flags(&[target], FlagOp::Add, std::slice::from_ref(&keyword))
                .context("store")?;
            writeln!(out.lock(), "flag {target} {keyword}")?;
        }
        if n % 5 == 0 && live.len() > 4 {
            let target = live.remove((n as usize * 3) % live.len());
            // Announced first: if the kill lands now, the expunge may or may not have happened.
            writeln!(out.lock(), "expunging {target}")?;
            replica.expunge(&[target]).context("expunge")?;
            writeln!(out.lock(), "expunge {target}")?;
        }
    }
    Ok(())
}
