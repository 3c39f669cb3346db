//! Spool throughput: append with fsync (64 KiB and 1 MiB batches), replay
//! (peek + ack until empty) and the recovery scan on open.
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use plantgw::spool::{Spool, SpoolOptions};

const SIZES: [(usize, &str); 2] = [(64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// Line-protocol-like bytes, so nothing is suspiciously compressible.
fn payload(len: usize) -> Vec<u8> {
    b"mill_feed_belt,site=caylloma,area=grinding,plc=grinding feed_rate_tph=31.25 1700000000000\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("spool_append_fsync");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    for (len, name) in SIZES {
        let p = payload(len);
        let dir = tempfile::tempdir().unwrap();
        // Bounded well below the bench's volume: steady state includes
        // segment rotation and drops, as on a full spool.
        let mut spool = Spool::open(dir.path(), 256 << 20).unwrap();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(name), &p, |b, p| {
            b.iter(|| black_box(spool.append(p).unwrap()));
        });
    }
    g.finish();
}

fn filled(len: usize, records: usize) -> (tempfile::TempDir, Spool) {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open_with(dir.path(), SpoolOptions::new(1 << 30)).unwrap();
    let p = payload(len);
    for _ in 0..records {
        spool.append(&p).unwrap();
    }
    (dir, spool)
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("spool_replay_peek_ack");
    g.sample_size(10);
    for (len, name) in SIZES {
        let records = (32 << 20) / len;
        g.throughput(Throughput::Bytes((records * len) as u64));
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched(
                || filled(len, records),
                |(dir, mut spool)| {
                    while let Some(r) = spool.peek().unwrap() {
                        spool.ack(black_box(r.seq)).unwrap();
                    }
                    (dir, spool)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn reopen(c: &mut Criterion) {
    let mut g = c.benchmark_group("spool_open_scan");
    g.sample_size(10);
    let (len, records) = (1 << 20, 64);
    let (dir, spool) = filled(len, records);
    drop(spool);
    g.throughput(Throughput::Bytes((len * records) as u64));
    g.bench_function("64MiB", |b| {
        b.iter(|| black_box(Spool::open(dir.path(), 1 << 30).unwrap().stats()));
    });
    g.finish();
}

criterion_group!(benches, append, replay, reopen);
criterion_main!(benches);
