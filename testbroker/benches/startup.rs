//! How fast a test cluster is ready: `Cluster::builder()...build()` until every broker
//! listens and has the declared topics' metadata (target: a 3-broker cluster with a 6-partition,
//! RF 3 topic in under 20 ms). Shutdown is not timed.
//!
//! ```text
//! cargo bench -p kafkit-testbroker --bench startup
//! ```

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kafkit_testbroker::{Cluster, ClusterBuilder};

fn time_builds(
    runtime: &tokio::runtime::Runtime,
    iters: u64,
    builder: impl Fn() -> ClusterBuilder,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let started = Instant::now();
        let cluster = runtime.block_on(builder().build()).expect("cluster starts");
        total += started.elapsed();
        runtime.block_on(cluster.shutdown());
    }
    total
}

fn cluster_startup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("cluster_startup");
    group.bench_function("1_broker", |b| {
        b.iter_custom(|iters| time_builds(&runtime, iters, || Cluster::builder().brokers(1)))
    });
    group.bench_function("3_brokers_topic_6x3", |b| {
        b.iter_custom(|iters| {
            time_builds(&runtime, iters, || {
                Cluster::builder().brokers(3).topic("t", 6, 3)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, cluster_startup);
criterion_main!(benches);
