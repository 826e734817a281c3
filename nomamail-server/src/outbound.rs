//! Hands queued sync mail to an MTA with lettre: the configured relay (STARTTLS, TLS, auth),
//! or else straight to the peer's SMTP endpoint from its pairing token. The contents are
//! sealed end to end either way; TLS to a relay protects the envelope and headers.

use crate::config::{RelaySection, Security};
use anyhow::{Context, Result};
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use nomamail_core::mailsync::OutMail;
use std::time::Duration;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

const SEND_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Outbound {
    sender: Address,
    relay: Option<Transport>,
}

impl Outbound {
    pub fn new(sync_address: &str, relay: Option<&RelaySection>) -> Result<Outbound> {
        let sender: Address = sync_address
            .parse()
            .with_context(|| format!("sync address {sync_address:?} is not a mail address"))?;
        let relay = relay.map(relay_transport).transpose()?;
        Ok(Outbound { sender, relay })
    }

    /// Sends one queued mail. `Ok` means an MTA took it.
    pub async fn send(&self, mail: &OutMail) -> Result<(), SendFailure> {
        let recipient: Address = mail.recipient.parse().map_err(|e| SendFailure {
            permanent: true,
            message: format!("peer address {:?}: {e}", mail.recipient),
        })?;
        let envelope =
            Envelope::new(Some(self.sender.clone()), vec![recipient]).map_err(|e| SendFailure {
                permanent: true,
                message: format!("envelope: {e}"),
            })?;
        let direct;
        let transport = match &self.relay {
            Some(relay) => relay,
            None => {
                let endpoint = mail.endpoint.as_deref().ok_or_else(|| SendFailure {
                    permanent: false,
                    message: format!(
                        "no [relay] configured and peer {} gave no endpoint",
                        mail.peer
                    ),
                })?;
                direct = direct_transport(endpoint).map_err(|e| SendFailure {
                    permanent: false,
                    message: format!("{e:#}"),
                })?;
                &direct
            }
        };
        transport
            .send_raw(&envelope, &mail.mail)
            .await
            .map(drop)
            .map_err(|e| SendFailure {
                permanent: e.is_permanent(),
                message: format!("sending sync mail to {}: {e}", mail.peer),
            })
    }
}

/// Why a mail did not go. A permanent refusal (5xx) will not change by retrying the same
/// mail; the engine resends its changes in a new one.
#[derive(Debug)]
pub struct SendFailure {
    pub permanent: bool,
    pub message: String,
}

fn relay_transport(relay: &RelaySection) -> Result<Transport> {
    let tls = match relay.security {
        Security::None => Tls::None,
        Security::Starttls => Tls::Required(TlsParameters::new(relay.host.clone())?),
        Security::Tls => Tls::Wrapper(TlsParameters::new(relay.host.clone())?),
    };
    let mut builder = Transport::builder_dangerous(&relay.host)
        .port(relay.port)
        .tls(tls)
        .timeout(Some(SEND_TIMEOUT));
    if let Some(user) = &relay.username {
        let password = match &relay.password_file {
            Some(path) => crate::config::read_secret(path)?,
            None => anyhow::bail!("[relay] username is set but password_file is not"),
        };
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

fn direct_transport(endpoint: &str) -> Result<Transport> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .with_context(|| format!("endpoint {endpoint:?} is not host:port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("endpoint {endpoint:?} has a bad port"))?;
    Ok(Transport::builder_dangerous(host)
        .port(port)
        .tls(Tls::None)
        .timeout(Some(SEND_TIMEOUT))
        .build())
}
