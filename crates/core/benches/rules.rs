//! Compiled rule evaluation: 50 rules with mixed conditions (comparisons,
//! `and`/`or`, `in`, `substr`, value lists of 10,000 and 500 entries) over a
//! realistic track context. Target: under 20 µs per track.
//! Run: `cargo bench -p actiongate-core --bench rules`.

use criterion::{Criterion, criterion_group, criterion_main};

include!("fixture.rs");

fn bench(c: &mut Criterion) {
    let (rules, context) = fixture();
    assert_eq!(rules.active_count(), 50);
    assert!(
        rules.evaluate(&context).matched.is_empty(),
        "no rule matches: all 50 run in full"
    );
    c.bench_function("evaluate 50 compiled rules", |b| {
        b.iter(|| std::hint::black_box(rules.evaluate(std::hint::black_box(&context))))
    });
    let mut group = c.benchmark_group("track decision");
    group.bench_function("context document + 50 rules", |b| {
        b.iter(|| {
            // What track does per request besides storage: clone the context
            // (building it costs the same) and evaluate.
            let ctx = std::hint::black_box(context.clone());
            std::hint::black_box(rules.evaluate(&ctx))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
