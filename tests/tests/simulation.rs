//! Seeded fault simulation of whole replica topologies (see `nomamail_tests::sim`).
//!
//! `NOMAMAIL_SIM_SEEDS=N` runs seeds 0..N (default 500 per topology);
//! `NOMAMAIL_SIM_SEED=S` replays one seed. A failure prints its seed and the replay command.
//! `NOMAMAIL_SIM_RESTORES=1` adds, in half the seeds, a replica restored from an older copy
//! of its file (not yet passed by the engine: off in CI); `NOMAMAIL_SIM_TRACE=1` prints
//! each restore and bundle.

use nomamail_tests::sim::{Config, Outcome, Sim, Topology};

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("NOMAMAIL_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let n = std::env::var("NOMAMAIL_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    (0..n).collect()
}

fn run_seeds(topology: Topology, test_name: &str) {
    let mut failures = Vec::new();
    let mut total = Outcome::default();
    let seeds = seeds();
    for &seed in &seeds {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_seed(seed, topology);
        if std::env::var_os("NOMAMAIL_SIM_RESTORES").is_some() {
            config.restore_chance = 0.5;
        }
        config.trace = std::env::var_os("NOMAMAIL_SIM_TRACE").is_some();
        let result = Sim::new(config, dir.path()).and_then(Sim::run);
        match result {
            Ok(o) => {
                total.ops += o.ops;
                total.bundles += o.bundles;
                total.bytes += o.bytes;
                total.lost += o.lost;
                total.duplicated += o.duplicated;
                total.held += o.held;
                total.crashes += o.crashes;
                total.restores += o.restores;
                total.lost_ops += o.lost_ops;
                total.heal_bundles = total.heal_bundles.max(o.heal_bundles);
                total.heal_rounds = total.heal_rounds.max(o.heal_rounds);
                total.conflicts += o.conflicts;
                total.live_messages += o.live_messages;
            }
            Err(why) => {
                eprintln!(
                    "seed {seed} FAILED ({topology:?}): {why}\n  replay: NOMAMAIL_SIM_SEED={seed} cargo test -p nomamail-tests --test simulation {test_name} -- --nocapture"
                );
                failures.push(seed);
            }
        }
    }
    eprintln!(
        "{topology:?}: {} seeds, {} ops, {} bundles ({} lost, {} duplicated, {} held), {} crashes, \
         {} restores from a backup ({} operations made after a backup lost with it), \
         {} conflicts left open, {} live messages; worst heal: {} bundles in {} rounds",
        seeds.len(),
        total.ops,
        total.bundles,
        total.lost,
        total.duplicated,
        total.held,
        total.crashes,
        total.restores,
        total.lost_ops,
        total.conflicts,
        total.live_messages,
        total.heal_bundles,
        total.heal_rounds
    );
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}

#[test]
fn two_servers_with_three_laptops() {
    run_seeds(
        Topology::ServersAndLaptops,
        "two_servers_with_three_laptops",
    );
}

#[test]
fn full_mesh_of_four() {
    run_seeds(Topology::MeshOfFour, "full_mesh_of_four");
}
