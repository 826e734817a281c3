//! Pairing: each server gives the other a token (its name, public key, sync address and
//! SMTP endpoint) and adds the other's. Sync mail is only accepted from, and only sent to, a
//! paired peer, so nothing flows until both sides have added each other.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use nomamail_core::accounts::Accounts;
use nomamail_core::mailsync::{HostKey, Peer, PeerKey, SyncState};
use nomamail_core::{Durability, ReplicaId};
use std::path::{Path, PathBuf};

const TOKEN_PREFIX: &str = "nomamail-pair:v1?";

#[derive(Subcommand)]
pub enum PairCommand {
    /// Print this server's pairing token, to give to the peer's `pair add`.
    Show,
    /// Pair with the server whose token this is.
    Add {
        token: String,
        /// Name for the peer here (default: the name in its token).
        #[arg(long)]
        name: Option<String>,
        /// Deliver straight to this `host:port` instead of the endpoint in the token (when
        /// the peer is reached through a NAT or tunnel).
        #[arg(long)]
        endpoint: Option<String>,
        /// Carry only these accounts (comma-separated) to and from the peer; default: all.
        /// Mail for any other account from it is refused.
        #[arg(long, value_delimiter = ',')]
        accounts: Option<Vec<String>>,
    },
    /// List paired servers.
    List,
    /// Unpair: refuse the peer's mail from now on and drop mail queued for it.
    Remove { name: String },
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("host.key")
}

pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("sync.db")
}

/// Makes this host's key pair unless there is one. The secret key file is readable by the
/// owner only.
pub fn ensure_host_key(data_dir: &Path) -> Result<HostKey> {
    let path = key_path(data_dir);
    if path.exists() {
        return host_key(data_dir);
    }
    let key = HostKey::generate()?;
    crate::tls::write_private(&path, &key.to_bytes())?;
    Ok(key)
}

pub fn host_key(data_dir: &Path) -> Result<HostKey> {
    let path = key_path(data_dir);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "reading {} (run `nomamail-server init` first)",
            path.display()
        )
    })?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display()))?;
    Ok(HostKey::from_bytes(bytes))
}

pub fn token(name: &str, key: PeerKey, address: &str, endpoint: Option<&str>) -> String {
    let mut token = format!("{TOKEN_PREFIX}name={name}&key={key}&address={address}");
    if let Some(endpoint) = endpoint {
        token.push_str(&format!("&endpoint={endpoint}"));
    }
    token
}

pub fn parse_token(token: &str) -> Result<Peer> {
    let Some(fields) = token.trim().strip_prefix(TOKEN_PREFIX) else {
        bail!("not a pairing token (it starts with {TOKEN_PREFIX})");
    };
    let (mut name, mut key, mut address, mut endpoint) = (None, None, None, None);
    for field in fields.split('&') {
        let (label, value) = field
            .split_once('=')
            .with_context(|| format!("pairing token field {field:?} has no value"))?;
        match label {
            "name" => name = Some(value.to_string()),
            "key" => key = Some(value.parse::<PeerKey>()?),
            "address" => address = Some(value.to_string()),
            "endpoint" => endpoint = Some(value.to_string()),
            other => bail!("pairing token has an unknown field {other:?}"),
        }
    }
    Ok(Peer {
        name: name.context("pairing token has no name")?,
        key: key.context("pairing token has no key")?,
        address: address.context("pairing token has no address")?,
        endpoint,
    })
}

pub fn run(data_dir: &Path, config: &crate::config::Config, command: PairCommand) -> Result<()> {
    let key = host_key(data_dir)?;
    let mut state = SyncState::open(&state_path(data_dir))
        .with_context(|| format!("opening {}", state_path(data_dir).display()))?;
    match command {
        PairCommand::Show => {
            println!(
                "{}",
                token(
                    &config.server.name,
                    key.public(),
                    &config.sync.address,
                    config.sync.endpoint.as_deref()
                )
            );
        }
        PairCommand::Add {
            token,
            name,
            endpoint,
            accounts,
        } => {
            if let Some(bad) = accounts
                .iter()
                .flatten()
                .find(|user| !nomamail_core::accounts::is_valid_user_name(user))
            {
                bail!("{bad:?} is not a user name");
            }
            let mut peer = parse_token(&token)?;
            if peer.key == key.public() {
                bail!("that is this server's own token");
            }
            if let Some(name) = name {
                peer.name = name;
            }
            if endpoint.is_some() {
                peer.endpoint = endpoint;
            }
            state.add_peer(&peer, crate::syncd::now_ms())?;
            state.set_accounts(&peer.name, accounts.as_deref())?;
            println!(
                "paired with {} ({}), sync mail to {}",
                peer.name, peer.key, peer.address
            );
            if let Some(accounts) = &accounts {
                println!("carrying only: {}", accounts.join(", "));
            }
        }
        PairCommand::List => {
            for record in state.peers()? {
                let carried = record
                    .accounts
                    .map_or_else(|| "all accounts".into(), |list| list.join(","));
                let peer = record.peer;
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    peer.name,
                    peer.key,
                    peer.address,
                    peer.endpoint.unwrap_or_else(|| "-".into()),
                    carried
                );
            }
        }
        PairCommand::Remove { name } => {
            // Unpaired first, so a late mail from it no longer makes it known again.
            let replicas = state.remove_peer(&name)?;
            for (user, replica) in &replicas {
                forget_replica(data_dir, user, *replica)
                    .with_context(|| format!("forgetting {name}'s replica of {user}"))?;
            }
            println!(
                "unpaired {name}; {} accounts no longer wait for it",
                replicas.len()
            );
        }
    }
    Ok(())
}

/// Tells the account's store to forget a peer's replica: directly, or through the daemon
/// that holds it.
fn forget_replica(data_dir: &Path, user: &str, replica: ReplicaId) -> Result<()> {
    let accounts = Accounts::open(data_dir)?;
    if accounts.get(user)?.is_none() {
        return Ok(());
    }
    match accounts.open_replica(user, Durability::Full) {
        Ok(mut store) => store.forget_peer(replica).map(drop).map_err(Into::into),
        Err(e) if e.is_locked() => {
            let replica = replica.0.to_string();
            crate::admin_client::request(data_dir, &["forget", user, &replica])
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_junk_is_refused() {
        let key = PeerKey([3; 32]);
        let text = token("office", key, "sync@office.example", Some("127.0.0.1:2525"));
        let peer = parse_token(&text).unwrap();
        assert_eq!(peer.name, "office");
        assert_eq!(peer.key, key);
        assert_eq!(peer.address, "sync@office.example");
        assert_eq!(peer.endpoint.as_deref(), Some("127.0.0.1:2525"));
        assert!(parse_token("hello").is_err());
        assert!(parse_token("nomamail-pair:v1?name=x&key=abc&address=y").is_err());
        assert!(parse_token("nomamail-pair:v1?name=x&address=y").is_err());
    }
}
