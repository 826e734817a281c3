//! `simulate`: the engine on its own. Three replicas of one account (office server, internet
//! server, laptop) on SQLite files exchange bundles over an in-process path that loses mail.
//! Everything a user would see is printed, including a conflict and its resolution.

use anyhow::{Context, Result, bail};
use nomamail_core::{Choice, FlagOp, INBOX_ID, Replica, ReplicaId, ReplicaOptions};
use std::collections::VecDeque;
use std::path::PathBuf;

const ACCOUNT_SEED: u64 = 0x0a0c_c0a1;
/// The demo's clock: one "minute" per round, so retransmissions happen within the run.
const ROUND_MS: u64 = 60_000;
const MAIL_SIZE_LIMIT: usize = 256 * 1024;

struct Node {
    name: &'static str,
    replica: Replica,
}

/// A lossy, delaying path for sync mail, driven by a fixed seed.
struct MailPath {
    queue: VecDeque<(usize, usize, Vec<u8>)>,
    state: u64,
    loss: f64,
    sent: u64,
    lost: u64,
    bytes: u64,
}

impl MailPath {
    fn coin(&mut self) -> f64 {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn run(data_dir: Option<PathBuf>, loss: f64, seed: u64) -> Result<()> {
    let temp = tempfile::tempdir().context("temporary directory")?;
    let dir = data_dir.unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut nodes = Vec::new();
    for (i, name) in ["office", "internet", "laptop"].into_iter().enumerate() {
        let path = dir.join(format!("{name}.db"));
        let replica = Replica::open(
            &path,
            ReplicaOptions::new(ReplicaId(0x10 + i as u64), ACCOUNT_SEED),
        )
        .with_context(|| format!("opening {}", path.display()))?;
        nodes.push(Node { name, replica });
    }
    // The office and internet servers sync by mail; the laptop syncs with the office.
    let links = [(0usize, 1usize), (0, 2)];
    for &(a, b) in &links {
        let (ia, ib) = (nodes[a].replica.id(), nodes[b].replica.id());
        nodes[a].replica.add_peer(ib)?;
        nodes[b].replica.add_peer(ia)?;
    }
    let mut path = MailPath {
        queue: VecDeque::new(),
        state: seed,
        loss,
        sent: 0,
        lost: 0,
        bytes: 0,
    };
    let mut now = 0;
    println!(
        "NomaMail engine demo: office server, internet server and laptop; databases in {}",
        dir.display()
    );
    println!(
        "sync mail path loses {:.0}% of mails (seed {seed})\n",
        loss * 100.0
    );

    println!("1. Mail arrives at the office server.");
    for i in 1..=6 {
        let body = format!(
            "From: colleague{i}@example.org\r\nSubject: Quarterly report part {i}\r\n\r\nPart {i} of the report.\r\n"
        );
        nodes[0]
            .replica
            .append(INBOX_ID, body.as_bytes(), &[], 1_790_000_000 + i, 540)?;
    }
    let archive = nodes[0].replica.mailbox_named("Archive")?.id;
    settle(&mut nodes, &links, &mut path, &mut now)?;
    show(&nodes, "INBOX")?;

    println!("\n2. The laptop goes offline. Its user reads two mails and files one in Archive;");
    println!("   at the same time, on the internet server, someone deletes that same mail.");
    let laptop_inbox = nodes[2].replica.entries(INBOX_ID)?;
    let (first, second) = (laptop_inbox[0].id, laptop_inbox[1].id);
    nodes[2]
        .replica
        .store_flags(&[first, second], FlagOp::Add, &["\\Seen".to_string()])?;
    nodes[2].replica.move_to(&[second], archive)?;
    nodes[1].replica.expunge(&[second])?;
    settle(&mut nodes, &links[..1], &mut path, &mut now)?;
    println!("   The servers agree without the laptop:");
    show(&nodes[..2], "INBOX")?;

    println!(
        "\n3. The laptop comes back. The move raced the delete: the mail is kept (safe side),"
    );
    println!("   and every replica records the same conflict.");
    settle(&mut nodes, &links, &mut path, &mut now)?;
    show(&nodes, "Archive")?;
    for node in nodes.iter_mut() {
        for c in node.replica.conflicts()? {
            println!(
                "   {:>8} conflict {}: {} — sides: {}",
                node.name,
                c.id,
                c.summary,
                c.sides.join(" / ")
            );
        }
    }

    println!("\n4. On the office server the user decides: delete it after all.");
    let conflict = nodes[0]
        .replica
        .conflicts()?
        .into_iter()
        .next()
        .context("the conflict is listed")?;
    nodes[0].replica.resolve(&conflict.id, Choice::Delete)?;
    settle(&mut nodes, &links, &mut path, &mut now)?;
    show(&nodes, "Archive")?;
    show(&nodes, "INBOX")?;
    for node in nodes.iter_mut() {
        if !node.replica.conflicts()?.is_empty() {
            bail!("{} still lists a conflict", node.name);
        }
    }
    println!("   No conflict is open anywhere.");
    println!(
        "\nSync mails: {} sent, {} lost and recovered by retransmission, {} bytes in all.",
        path.sent, path.lost, path.bytes
    );
    println!(
        "This demo shows the engine. `nomamail-server run` serves IMAP; SMTP between servers and the laptop link come next."
    );
    Ok(())
}

/// Deliver sync mail until no replica has anything left to say.
fn settle(
    nodes: &mut [Node],
    links: &[(usize, usize)],
    path: &mut MailPath,
    now: &mut u64,
) -> Result<()> {
    for _ in 0..500 {
        *now += ROUND_MS * 11;
        let mut moved = false;
        for &(a, b) in links {
            for (x, y) in [(a, b), (b, a)] {
                let to = nodes[y].replica.id();
                while let Some(mail) = nodes[x].replica.outgoing(to, *now, MAIL_SIZE_LIMIT)? {
                    path.sent += 1;
                    path.bytes += mail.len() as u64;
                    moved = true;
                    if path.coin() < path.loss {
                        path.lost += 1;
                    } else {
                        path.queue.push_back((x, y, mail));
                    }
                }
            }
        }
        while let Some((x, y, mail)) = path.queue.pop_front() {
            let from = nodes[x].replica.id();
            nodes[y]
                .replica
                .incoming(from, &mail, *now)
                .with_context(|| format!("{} applying mail", nodes[y].name))?;
        }
        if !moved {
            return Ok(());
        }
    }
    bail!("sync did not settle")
}

fn show(nodes: &[Node], mailbox: &str) -> Result<()> {
    for node in nodes {
        let m = node.replica.mailbox_named(mailbox)?;
        let lines: Vec<String> = node
            .replica
            .entries(m.id)?
            .into_iter()
            .map(|e| {
                let seen = if e.flags.iter().any(|f| f == "\\Seen") {
                    "read"
                } else {
                    "new"
                };
                format!("{}:{seen}", e.uid)
            })
            .collect();
        println!(
            "   {:>8} {mailbox} (UIDVALIDITY {}): [{}]",
            node.name,
            m.uidvalidity,
            lines.join(" ")
        );
    }
    Ok(())
}
