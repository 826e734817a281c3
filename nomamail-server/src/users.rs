//! `init` and `user …`: scriptable account administration. Passwords come from standard
//! input or a file, never from the command line (where `ps` would show them).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use nomamail_core::accounts::{Accounts, Password};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (with INBOX, Sent, Drafts, Trash, Junk and Archive).
    Add {
        user: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Change a user's password.
    Passwd {
        user: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users.
    List,
    /// Remove a user and all of the user's mail.
    Remove { user: String },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct PasswordSource {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Read the password from the first line of this file.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

impl PasswordSource {
    fn read(&self) -> Result<Password> {
        let line = if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            text.lines().next().unwrap_or("").to_string()
        } else {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        };
        if line.is_empty() {
            bail!("the password is empty");
        }
        Ok(Password::new(line))
    }
}

pub fn init(dir: &Path) -> Result<()> {
    let existed = dir.join("accounts.db").exists();
    Accounts::open(dir).with_context(|| format!("initialising {}", dir.display()))?;
    let (cert, _) = crate::tls::ensure_self_signed(dir)?;
    if existed {
        println!("{} is already initialised", dir.display());
    } else {
        println!("initialised {}", dir.display());
        println!(
            "TLS certificate (self-signed until you give --tls-cert): {}",
            cert.display()
        );
    }
    Ok(())
}

pub fn run(dir: &Path, command: UserCommand) -> Result<()> {
    if !dir.join("accounts.db").exists() {
        bail!(
            "{} is not initialised: run `nomamail-server --data-dir {} init` first",
            dir.display(),
            dir.display()
        );
    }
    let mut accounts = Accounts::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    match command {
        UserCommand::Add { user, password } => {
            let info = accounts.add(&user, &password.read()?)?;
            println!("added {} (replica {})", info.user, info.replica);
        }
        UserCommand::Passwd { user, password } => {
            accounts.set_password(&user, &password.read()?)?;
            println!("password of {user} changed");
        }
        UserCommand::List => {
            for info in accounts.list()? {
                println!("{}", info.user);
            }
        }
        UserCommand::Remove { user } => {
            match accounts.remove(&user) {
                Err(e) if e.is_locked() => bail!(
                    "the daemon is running and holds {user}'s mail store: stop it, then remove \
                     {user} (and on each paired server)"
                ),
                other => other?,
            }
            println!("removed {user} and its mail");
        }
    }
    Ok(())
}
