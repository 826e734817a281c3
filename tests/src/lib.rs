//! Test support shared by NomaMail's cross-crate tests, benchmarks and the demo: a seeded RNG
//! the deterministic fault simulator that drives replicas through the sans-IO sync API, and an
//! IMAP server started in-process on a free loopback port.

pub mod corpus;
pub mod daemon;
pub mod dovecot;
pub mod imap_server;
pub mod relay;
pub mod rng;
pub mod sim;
pub mod tls;
pub mod wire;
