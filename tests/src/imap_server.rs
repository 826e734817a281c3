//! An IMAP server for tests: a fresh data directory with the given users, served on
//! `127.0.0.1:0` by a runtime on its own thread, so tests of any kind (async, blocking, a
//! Python child process) can talk to it. Dropping it shuts the server down and waits.

use nomamail_core::Durability;
use nomamail_core::accounts::{Accounts, Password};
use nomamail_core::imap::{Listener, Mailstore, Mailstores, ServerConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct TestServer {
    pub addr: SocketAddr,
    /// The implicit-TLS listener, when the server was given a certificate.
    pub tls_addr: Option<SocketAddr>,
    pub stores: Arc<Mailstores>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start(users: &[(&str, &str)]) -> TestServer {
        TestServer::start_with(users, ServerConfig::default())
    }

    pub fn start_with(users: &[(&str, &str)], config: ServerConfig) -> TestServer {
        // Durability::Process: the OS keeps every commit; tests do not need fsync's cost.
        TestServer::start_with_durability(users, config, Durability::Process)
    }

    /// As the daemon runs: `Durability::Full` fsyncs every commit before the OK.
    pub fn start_with_durability(
        users: &[(&str, &str)],
        config: ServerConfig,
        durability: Durability,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut accounts = Accounts::open(dir.path()).expect("accounts");
        for (user, password) in users {
            accounts
                .add(user, &Password::new(*password))
                .expect("add user");
        }
        let stores = Arc::new(Mailstores::new(accounts, durability));
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            listener.set_nonblocking(true).expect("nonblocking");
            listener
        };
        let plain = bind();
        let addr = plain.local_addr().expect("address");
        let implicit = config.tls.is_some().then(bind);
        let tls_addr = implicit.as_ref().map(|l| l.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = stores.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listen = |socket, implicit_tls| Listener {
                    socket: tokio::net::TcpListener::from_std(socket).expect("listener"),
                    implicit_tls,
                };
                let mut listeners = vec![listen(plain, false)];
                listeners.extend(implicit.map(|socket| listen(socket, true)));
                let shutdown = async move {
                    let _ = stopped.await;
                };
                nomamail_core::imap::serve_listeners(listeners, served, config, shutdown)
                    .await
                    .expect("serve");
            });
        });
        TestServer {
            addr,
            tls_addr,
            stores,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// The account's store as the server holds it: writes through it reach IMAP sessions
    /// the way changes from a sync peer do.
    pub fn store(&self, user: &str) -> Arc<Mailstore> {
        self.stores.open(user).expect("open store")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
