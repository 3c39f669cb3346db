//! Register decoding hot path: a 1000-tag block set decoded per scan.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use plantgw::config::{ByteOrder, DataType, Table, Tag, TagId};
use plantgw::source::modbus::decode::decode_register_tag;

fn tags(n: usize) -> Vec<Tag> {
    let types = [
        DataType::F32,
        DataType::U16,
        DataType::I32,
        DataType::F64,
        DataType::U32,
    ];
    let orders = [
        ByteOrder::ABCD,
        ByteOrder::CDAB,
        ByteOrder::BADC,
        ByteOrder::DCBA,
    ];
    let mut address = 0u16;
    (0..n)
        .map(|i| {
            let dt = types[i % types.len()];
            let id = TagId::new("p", "a", format!("eq{}", i / 10), format!("t{i}"));
            let t = Tag {
                order: orders[i % orders.len()],
                scale: if i % 3 == 0 { 0.1 } else { 1.0 },
                ..Tag::new(id, Table::Holding, address, dt, 0)
            };
            address = address.wrapping_add(t.count);
            t
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for n in [100usize, 1000] {
        let tags = tags(n);
        let words: Vec<u16> = (0..tags.iter().map(|t| usize::from(t.count)).sum::<usize>())
            .map(|i| (i as u16).wrapping_mul(2654))
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("register_tags", n), &tags, |b, tags| {
            b.iter(|| {
                for t in tags {
                    black_box(decode_register_tag(t, 0, black_box(&words)));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
