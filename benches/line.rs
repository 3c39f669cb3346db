//! Line protocol encoding: a PLC scan through the scan encoder (the hot
//! path, every scan of every PLC) and generic points through
//! `encode_point` (the KPI engine's path).
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use plantgw::config::{DataType, Plc, PlcNames, Table, Tag, TagId};
use plantgw::sample::{Quality, Reading, Scan, ScanStatus, Value};
use plantgw::sink::influxdb::{encode_point, FieldValue, Point, ScanEncoder};

/// A grinding-PLC-like configuration: `n` tags over 20 equipment, mostly
/// floats, some integers, bools and strings.
fn plant(n: usize) -> Plc {
    let tags = (0..n)
        .map(|i| {
            let id = TagId::new(
                "grinding",
                "grinding",
                format!("equipment_{:02}", i % 20),
                format!("signal_{i:04}"),
            );
            Tag::new(id, Table::Holding, (i * 2) as u16, DataType::F32, 0)
        })
        .collect();
    Plc {
        name: "grinding".into(),
        area: "grinding".into(),
        address: "127.0.0.1:5021".into(),
        unit_id: 1,
        scan: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        max_gap: 0,
        tags,
        link: Default::default(),
    }
}

fn scan(p: &Plc) -> Scan {
    let readings = p
        .tags
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let value = match i % 20 {
                0..=13 => Value::Float(400.0 + i as f64 * 0.37),
                14..=16 => Value::Int(i as i64 * 1000),
                17 | 18 => Value::Bool(i % 2 == 0),
                _ => Value::text("auto"),
            };
            Reading {
                tag: t.id.clone(),
                value: Some(value),
                quality: Quality::Good,
            }
        })
        .collect();
    Scan {
        plc: p.name.clone(),
        area: p.area.clone(),
        ts_ms: 1_700_000_000_000,
        readings,
        status: ScanStatus {
            connected: true,
            duration: Duration::from_millis(35),
            requests: 12,
            errors: 0,
            timeouts: 0,
        },
    }
}

fn scan_encoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan_encoder");
    for n in [100usize, 1000] {
        let p = plant(n);
        let s = scan(&p);
        let mut enc = ScanEncoder::new("caylloma", std::slice::from_ref(&p));
        let mut out = Vec::with_capacity(64 * 1024);
        // The first scan also writes every tag's quality; measure steady state.
        enc.encode(&s, &mut out);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("tags", n), &s, |b, s| {
            b.iter(|| {
                out.clear();
                black_box(enc.encode(black_box(s), &mut out))
            })
        });
    }
    g.finish();
}

fn points(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_point");
    for n in [100usize, 1000] {
        let pts: Vec<Point> = (0..n)
            .map(|i| Point {
                measurement: "kpi".into(),
                tags: vec![
                    ("site".into(), "caylloma".into()),
                    ("day".into(), "2024-03-01".into()),
                ],
                fields: vec![
                    ("ore_dry_t".into(), FieldValue::Float(612.5 + i as f64)),
                    ("throughput_tph".into(), FieldValue::Float(29.4)),
                    ("scans".into(), FieldValue::Int(i as i64)),
                ],
                ts_ms: 1_700_000_000_000 + i as i64,
            })
            .collect();
        let mut out = Vec::with_capacity(64 * 1024);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("points", n), &pts, |b, pts| {
            b.iter(|| {
                out.clear();
                for p in pts {
                    let _ = encode_point(black_box(p), &mut out);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// The benchmark's large row as the writer task sees it: 100 PLCs of 1000
/// tags (equipment of ~8 tags, `f32` values widened to `f64` as decoded from
/// registers), one scan of each per iteration, so the encoder's state is far
/// bigger than the CPU caches, as in the gateway.
fn scan_encoder_plant(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan_encoder_plant");
    let (n_plcs, n_tags) = (100usize, 1000usize);
    let plcs: Vec<Plc> = (0..n_plcs)
        .map(|p| {
            let name: Arc<str> = format!("plc{p:04}").into();
            let area: Arc<str> = format!("area{:02}", p % 10).into();
            // One set of PLC names shared by the PLC's tags, as validation
            // builds them.
            let owner = Arc::new(PlcNames {
                plc: name.clone(),
                area: area.clone(),
            });
            let tags = (0..n_tags)
                .map(|i| {
                    let id = TagId {
                        owner: owner.clone(),
                        equipment: format!("dev{:03}", i / 8).into(),
                        name: format!("{}_{:02}", ["pv", "level", "delta", "count"][i % 4], i % 8)
                            .into(),
                    };
                    Tag::new(id, Table::Holding, (i * 2) as u16, DataType::F32, 0)
                })
                .collect();
            Plc {
                name,
                area,
                address: "127.0.0.1:502".into(),
                unit_id: 1,
                scan: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                max_gap: 16,
                tags,
                link: Default::default(),
            }
        })
        .collect();
    let scans: Vec<Scan> = plcs
        .iter()
        .enumerate()
        .map(|(p, plc)| {
            let mut s = scan(plc);
            for (i, r) in s.readings.iter_mut().enumerate() {
                let x = 100.0f32 + (p * n_tags + i) as f32 * 0.173;
                r.value = Some(match i % 50 {
                    0 => Value::Int(i as i64),
                    1 => Value::Bool(i % 3 == 0),
                    _ => Value::Float(f64::from(x)),
                });
            }
            s
        })
        .collect();
    let mut enc = ScanEncoder::new("bench", &plcs);
    let mut out = Vec::with_capacity(8 << 20);
    for s in &scans {
        enc.encode(s, &mut out);
    }
    g.throughput(Throughput::Elements((n_plcs * n_tags) as u64));
    g.bench_function("100x1000", |b| {
        b.iter(|| {
            out.clear();
            for s in &scans {
                black_box(enc.encode(black_box(s), &mut out));
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, scan_encoder, scan_encoder_plant, points);
criterion_main!(benches);
