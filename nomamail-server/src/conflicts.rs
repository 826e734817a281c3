//! `conflicts list | show | resolve`: the conflicts the policy left open, per account, and the
//! decisions on them. Listing reads the stores beside a running daemon; a decision is
//! written directly when no daemon runs, else handed to the daemon's admin socket so its
//! IMAP sessions and sync see it at once.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use nomamail_core::accounts::Accounts;
use nomamail_core::{Choice, Conflict, Durability, Replica};
use std::path::Path;

#[derive(Subcommand)]
pub enum ConflictsCommand {
    /// List open conflicts (of one user, or of all).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Show one conflict: what happened, each side, what is shown now, and the choices.
    Show { user: String, id: String },
    /// Decide a conflict: delete, keep, keep-both, mailbox:<id> or name:<new name>.
    Resolve {
        user: String,
        id: String,
        choice: String,
    },
}

pub fn choice_text(choice: &Choice) -> String {
    match choice {
        Choice::Delete => "delete".into(),
        Choice::Keep => "keep".into(),
        Choice::KeepBoth => "keep-both".into(),
        Choice::Mailbox(id) => format!("mailbox:{id}"),
        Choice::Name(name) => format!("name:{name}"),
    }
}

pub fn parse_choice(text: &str) -> Result<Choice> {
    Ok(match text {
        "delete" => Choice::Delete,
        "keep" => Choice::Keep,
        "keep-both" => Choice::KeepBoth,
        _ => match text.split_once(':') {
            Some(("mailbox", id)) => Choice::Mailbox(
                id.parse()
                    .map_err(|()| anyhow::anyhow!("{id:?} is not a mailbox id"))?,
            ),
            Some(("name", name)) if !name.is_empty() => Choice::Name(name.to_string()),
            _ => bail!(
                "unknown choice {text:?}: delete, keep, keep-both, mailbox:<id> or name:<name>"
            ),
        },
    })
}

fn read(accounts: &Accounts, user: &str) -> Result<Vec<Conflict>> {
    if accounts.get(user)?.is_none() {
        bail!("no such user: {user}");
    }
    let path = accounts.replica_path(user);
    let mut replica =
        Replica::open_read_only(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(replica.conflicts()?)
}

pub fn run(data_dir: &Path, command: ConflictsCommand) -> Result<()> {
    let accounts = Accounts::open(data_dir)?;
    match command {
        ConflictsCommand::List { user } => {
            let users = match user {
                Some(user) => vec![user],
                None => accounts.list()?.into_iter().map(|a| a.user).collect(),
            };
            let mut any = false;
            for user in users {
                for conflict in read(&accounts, &user)? {
                    any = true;
                    println!("{user}\t{}\t{}", conflict.id, conflict.summary);
                }
            }
            if !any {
                println!("no open conflicts");
            }
        }
        ConflictsCommand::Show { user, id } => {
            let conflict = read(&accounts, &user)?
                .into_iter()
                .find(|c| c.id == id)
                .with_context(|| format!("{user} has no open conflict {id}"))?;
            println!("{}: {}", conflict.id, conflict.summary);
            for side in &conflict.sides {
                println!("  side: {side}");
            }
            println!("  shown now: {}", conflict.current);
            let choices: Vec<String> = conflict.choices.iter().map(choice_text).collect();
            println!("  choices: {}", choices.join(", "));
        }
        ConflictsCommand::Resolve { user, id, choice } => {
            let parsed = parse_choice(&choice)?;
            match accounts.open_replica(&user, Durability::Full) {
                Ok(mut replica) => replica.resolve(&id, parsed)?,
                Err(e) if e.is_locked() => {
                    crate::admin_client::request(data_dir, &["resolve", &user, &id, &choice])?;
                }
                Err(e) => return Err(e.into()),
            }
            println!("resolved {id} of {user}: {choice}");
        }
    }
    Ok(())
}
