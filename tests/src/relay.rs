//! A fault-injecting SMTP relay for tests: it takes mail like an MTA (our own listener code
//! receives it), then loses, duplicates, delays and reorders it on the way to the recipient's
//! server, or holds everything until told to release it all at once, as a mail path that
//! was down for days does. Seeded, so a failing run can be replayed.

use crate::rng::Rng;
use nomamail_core::imap::Mailstore;
use nomamail_core::smtp::client;
use nomamail_core::smtp::{Delivery, Envelope, Refusal, SmtpConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the relay sends a recipient's mail.
#[derive(Clone)]
enum Route {
    /// The next hop's SMTP listener.
    Smtp(SocketAddr),
    /// Filed straight into a mailbox, as a hosting provider's delivery agent would.
    Mailbox(Arc<Mailstore>),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub drop: f64,
    pub duplicate: f64,
    /// Each mail waits up to this long; mails overtake each other.
    pub max_delay: Duration,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub received: u64,
    /// Bytes of the mails received (message data, as an MTA counts them).
    pub bytes: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub forwarded: u64,
    pub held_peak: u64,
}

struct Queued {
    due: Instant,
    recipient: String,
    from: String,
    mail: Arc<Vec<u8>>,
}

struct State {
    routes: HashMap<String, Route>,
    faults: Faults,
    holding: bool,
    queue: Vec<Queued>,
    rng: Rng,
    counts: Counts,
    /// Forwarding time of each mail (for the propagation benchmark): receipt → accepted.
    hop_times: Vec<Duration>,
}

pub struct FaultyRelay {
    pub addr: SocketAddr,
    pub seed: u64,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    running: Arc<std::sync::atomic::AtomicBool>,
}

struct Intake(Arc<Mutex<State>>);

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Delivery for Intake {
    fn recipient(&self, address: &str) -> Result<(), Refusal> {
        if lock(&self.0)
            .routes
            .contains_key(&address.to_ascii_lowercase())
        {
            Ok(())
        } else {
            Err(Refusal::permanent("5.7.1", "relaying denied"))
        }
    }

    fn deliver(&self, envelope: &Envelope, message: &[u8]) -> Vec<Result<(), Refusal>> {
        let mut state = lock(&self.0);
        let mail = Arc::new(message.to_vec());
        for recipient in &envelope.recipients {
            state.counts.received += 1;
            state.counts.bytes += message.len() as u64;
            let faults = state.faults;
            // Each fault that is switched on happens at least once, whatever the dice say, so a
            // run never passes without having met it (the first mail under it gets it).
            let drop = state.rng.chance(faults.drop);
            if drop || (faults.drop > 0.0 && state.counts.dropped == 0) {
                state.counts.dropped += 1;
                continue;
            }
            let duplicate = state.rng.chance(faults.duplicate);
            let copies = if duplicate || (faults.duplicate > 0.0 && state.counts.duplicated == 0) {
                state.counts.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = state.rng.below(faults.max_delay.as_millis() as u64 + 1);
                state.queue.push(Queued {
                    due: Instant::now() + Duration::from_millis(delay),
                    recipient: recipient.to_ascii_lowercase(),
                    from: envelope.from.clone(),
                    mail: mail.clone(),
                });
            }
        }
        let held = state.queue.len() as u64;
        state.counts.held_peak = state.counts.held_peak.max(held);
        vec![Ok(()); envelope.recipients.len()]
    }
}

impl FaultyRelay {
    pub fn start(seed: u64) -> FaultyRelay {
        let state = Arc::new(Mutex::new(State {
            routes: HashMap::new(),
            faults: Faults::default(),
            holding: false,
            queue: Vec::new(),
            rng: Rng::new(seed),
            counts: Counts::default(),
            hop_times: Vec::new(),
        }));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let intake = Arc::new(Intake(state.clone()));
        let listener = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let socket = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let _ = addr_tx.send(socket.local_addr().expect("address"));
                let config = SmtpConfig {
                    hostname: "relay.test".into(),
                    ..SmtpConfig::default()
                };
                let _ = nomamail_core::smtp::serve(socket, intake, config, async {
                    let _ = stopped.await;
                })
                .await;
            });
        });
        let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let forwarder = {
            let state = state.clone();
            let running = running.clone();
            std::thread::spawn(move || forward_loop(&state, &running))
        };
        FaultyRelay {
            addr: addr_rx.recv().expect("relay address"),
            seed,
            state,
            stop: Some(stop),
            threads: vec![listener, forwarder],
            running,
        }
    }

    pub fn route(&self, recipient: &str, to: SocketAddr) {
        lock(&self.state)
            .routes
            .insert(recipient.to_ascii_lowercase(), Route::Smtp(to));
    }

    /// Files `recipient`'s mail into the INBOX of `store` (a hosted mailbox that a server
    /// polls over IMAP).
    pub fn route_to_mailbox(&self, recipient: &str, store: Arc<Mailstore>) {
        lock(&self.state)
            .routes
            .insert(recipient.to_ascii_lowercase(), Route::Mailbox(store));
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.state).faults = faults;
    }

    /// Keeps every mail from now on until `release`.
    pub fn hold(&self) {
        lock(&self.state).holding = true;
    }

    /// Lets everything held go at once, in a shuffled order.
    pub fn release(&self) {
        let mut state = lock(&self.state);
        state.holding = false;
        let now = Instant::now();
        for queued in &mut state.queue {
            queued.due = now;
        }
    }

    pub fn counts(&self) -> Counts {
        lock(&self.state).counts
    }

    pub fn held(&self) -> usize {
        lock(&self.state).queue.len()
    }

    pub fn hop_times(&self) -> Vec<Duration> {
        lock(&self.state).hop_times.clone()
    }
}

impl Drop for FaultyRelay {
    fn drop(&mut self) {
        self.running
            .store(false, std::sync::atomic::Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn forward_loop(state: &Mutex<State>, running: &std::sync::atomic::AtomicBool) {
    while running.load(std::sync::atomic::Ordering::SeqCst) {
        let ready = {
            let mut state = lock(state);
            if state.holding {
                Vec::new()
            } else {
                let now = Instant::now();
                let (ready, waiting): (Vec<_>, Vec<_>) =
                    state.queue.drain(..).partition(|q| q.due <= now);
                state.queue = waiting;
                let mut ready = ready;
                // Shuffle: mail released together arrives in any order.
                for i in (1..ready.len()).rev() {
                    let j = state.rng.below(i as u64 + 1) as usize;
                    ready.swap(i, j);
                }
                ready
            }
        };
        if ready.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        for queued in ready {
            let route = lock(state).routes.get(&queued.recipient).cloned();
            let started = Instant::now();
            let sent = match route {
                Some(Route::Smtp(to)) => {
                    send(to, &queued.from, &queued.recipient, &queued.mail).is_ok()
                }
                Some(Route::Mailbox(store)) => store
                    .write(|r| r.append(nomamail_core::INBOX_ID, &queued.mail, &[], 0, 0))
                    .is_ok(),
                None => false,
            };
            let mut state = lock(state);
            if sent {
                state.counts.forwarded += 1;
                state.hop_times.push(started.elapsed());
            } else {
                // Like an MTA: the next hop is down or refused for now; try again later.
                state.queue.push(Queued {
                    due: Instant::now() + Duration::from_millis(200),
                    ..queued
                });
            }
        }
    }
}

/// Hands one mail to the next hop. A refusal of the message itself (a bad seal, say) is
/// final for a relay, as it is for an MTA: the mail is not retried.
pub fn send(to: SocketAddr, from: &str, recipient: &str, mail: &[u8]) -> std::io::Result<()> {
    let message = client::Message {
        from,
        recipient,
        bytes: mail,
    };
    match client::send(to, false, "relay.test", &message, Duration::from_secs(60)) {
        Ok(()) => Ok(()),
        Err(e) if e.is_permanent() => Ok(()),
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}
