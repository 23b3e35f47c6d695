//! The allocator under Mesos's DeclineOffers benchmark shape
//! (`HierarchicalAllocator_BENCHMARK_Test.DeclineOffers`):
//!
//! - agents `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, each with
//!   `cpus:16;mem:2014;disk:1024` and 16 port ranges already used by framework
//!   `i mod F`;
//! - rounds in which every framework declines everything it was offered with an
//!   unbounded filter (capped at a year, as Mesos caps it), then `allocate()` runs.
//!
//! Prints figures; asserts nothing about time. Run with
//! `cargo bench -p ratufa-master --bench allocator`. By default it runs 1k × 100,
//! 1k × 1,000 and 10k × 100 (agents × frameworks). Set
//! `RATUFA_ALLOC_BENCH=10000x1000,20000x100,20000x1000` to choose shapes, and
//! `RATUFA_ALLOC_ROUNDS=N` to cap the rounds (default 2 × frameworks, as Mesos does).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ratufa_master::allocator::{
    Allocation, Allocator, AllocatorConfig, HierarchicalDrf, MAX_REFUSE_SECONDS,
};
use ratufa_master::core::Time;
use ratufa_proto::resources::Resources;
use ratufa_proto::v1::{AgentId, AgentInfo, FrameworkId, FrameworkInfo};

const DEFAULT_SHAPES: &[(usize, usize)] = &[(1_000, 100), (1_000, 1_000), (10_000, 100)];

fn resources(text: &str) -> Resources {
    match Resources::parse(text, "*") {
        Ok(r) => r,
        Err(e) => panic!("bad benchmark resources {text}: {e}"),
    }
}

fn shapes() -> Vec<(usize, usize)> {
    let Ok(text) = std::env::var("RATUFA_ALLOC_BENCH") else {
        return DEFAULT_SHAPES.to_vec();
    };
    text.split(',')
        .filter_map(|shape| {
            let (agents, frameworks) = shape.trim().split_once('x')?;
            Some((agents.parse().ok()?, frameworks.parse().ok()?))
        })
        .collect()
}

fn max_rounds() -> Option<usize> {
    std::env::var("RATUFA_ALLOC_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The machine's own pace for comparison: summing every agent's resources once, the
/// least any allocator that looks at every agent must do.
fn baseline(agents: &[Resources]) -> Duration {
    let start = Instant::now();
    let mut sum = Resources::new();
    for total in agents {
        sum += total;
    }
    black_box(&sum);
    start.elapsed()
}

fn run(agent_count: usize, framework_count: usize) {
    println!("== {agent_count} agents, {framework_count} frameworks ==");
    let mut alloc = HierarchicalDrf::new(AllocatorConfig::default());
    let now = Time::ZERO;

    let frameworks: Vec<FrameworkId> = (0..framework_count)
        .map(|i| FrameworkId {
            value: format!("framework-{i:05}"),
        })
        .collect();
    let start = Instant::now();
    for id in &frameworks {
        let info = FrameworkInfo {
            user: "bench".into(),
            name: id.value.clone(),
            ..FrameworkInfo::default()
        };
        alloc.add_framework(id, &info, &[], true, &[]);
    }
    println!(
        "added {framework_count} frameworks in {}",
        ms(start.elapsed())
    );

    let total = resources("cpus:24;mem:4096;disk:4096;ports:[31000-32000]");
    // 16 ports spread over the range, as 16 separate ranges, like 16 tasks' ports.
    let ports: Vec<String> = (0..16)
        .map(|k| {
            let port = 31_000 + k * 62;
            format!("{port}-{port}")
        })
        .collect();
    let mut used = resources(&format!(
        "cpus:16;mem:2014;disk:1024;ports:[{}]",
        ports.join(",")
    ));
    used.allocate("*");

    let start = Instant::now();
    let mut totals = Vec::with_capacity(agent_count);
    for i in 0..agent_count {
        let id = AgentId {
            value: format!("agent-{i:06}"),
        };
        let info = AgentInfo {
            hostname: id.value.clone(),
            ..AgentInfo::default()
        };
        let framework = frameworks[i % framework_count].clone();
        alloc.add_agent(&id, &info, total.clone(), &[(framework, used.clone())]);
        totals.push(total.clone());
    }
    println!("added {agent_count} agents in {}", ms(start.elapsed()));

    let start = Instant::now();
    let mut offers: Vec<Allocation> = alloc.allocate(now);
    let first = start.elapsed();
    println!(
        "first allocate() (every agent new) took {} to make {} offers",
        ms(first),
        offers.len()
    );

    let refuse = Duration::from_secs_f64(MAX_REFUSE_SECONDS);
    let rounds = max_rounds().map_or(framework_count * 2, |cap| cap.min(framework_count * 2));
    let mut declined = 0usize;
    let mut allocate_total = Duration::ZERO;
    let mut recover_total = Duration::ZERO;
    let mut slowest = (Duration::ZERO, 0usize, 0usize);
    let mut busy_rounds = (0usize, Duration::ZERO);
    let report_every = (rounds / 10).max(1);
    for round in 0..rounds {
        let start = Instant::now();
        for offer in offers.drain(..) {
            alloc.recover_resources(
                &offer.framework_id,
                &offer.agent_id,
                &offer.resources,
                Some(refuse),
                now,
            );
            declined += 1;
        }
        recover_total += start.elapsed();

        let start = Instant::now();
        offers = alloc.allocate(now);
        let took = start.elapsed();
        allocate_total += took;
        if took > slowest.0 {
            slowest = (took, round, offers.len());
        }
        if offers.len() >= agent_count / 2 {
            busy_rounds.0 += 1;
            busy_rounds.1 += took;
        }
        if round % report_every == 0 || round + 1 == rounds {
            println!(
                "round {round} allocate() took {} to make {} offers after filtering {declined} offers",
                ms(took),
                offers.len()
            );
        }
    }
    let stats = alloc.stats();
    println!(
        "{rounds} rounds: allocate() {} in all, {} per round on average; slowest {} \
         (round {}, {} offers)",
        ms(allocate_total),
        ms(allocate_total / rounds.max(1) as u32),
        ms(slowest.0),
        slowest.1,
        slowest.2
    );
    if busy_rounds.0 > 0 {
        println!(
            "full cycles (>= half the agents offered): {} rounds, {} per cycle",
            busy_rounds.0,
            ms(busy_rounds.1 / busy_rounds.0 as u32)
        );
    }
    println!(
        "recovering (declining) {declined} offers took {} in all; {} allocations made; \
         {} agent visits",
        ms(recover_total),
        stats.allocations,
        stats.agents_examined
    );
    let base = baseline(&totals);
    println!(
        "baseline: summing all {agent_count} agents' resources once took {}",
        ms(base)
    );
    println!();
}

fn main() {
    // `cargo bench` passes `--bench`; there are no other options.
    for (agents, frameworks) in shapes() {
        run(agents, frameworks);
    }
}
