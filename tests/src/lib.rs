//! Test support shared by NomaMail's cross-crate tests, benchmarks and the demo: a seeded RNG
//! and the deterministic fault simulator that drives replicas through the sans-IO sync API.

pub mod corpus;
pub mod rng;
pub mod sim;
