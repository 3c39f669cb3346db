//! The request planner: merges a PLC's tags into as few Modbus reads as
//! possible. Pure and tokio-free, so `plantgw check` prints exactly what the
//! poller will send.
//!
//! Rules: tags of one table whose ranges touch, or are separated by at most
//! `max_gap` unused registers (bits for coil/discrete tables), share a
//! request; a request never exceeds 125 registers or 2000 bits (the Modbus
//! limits for functions 3/4 and 1/2). `max_gap = 0` still merges adjacent
//! tags, it only stops bridging gaps.
use serde::Serialize;

use crate::config::{Table, Tag};

/// Modbus limit for read holding/input registers (functions 3 and 4).
pub const MAX_REGISTERS: u16 = 125;
/// Modbus limit for read coils/discrete inputs (functions 1 and 2).
pub const MAX_BITS: u16 = 2000;

pub fn limit(table: Table) -> u16 {
    if table.is_bits() {
        MAX_BITS
    } else {
        MAX_REGISTERS
    }
}

/// One read request and the tags it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadBlock {
    pub table: Table,
    pub start: u16,
    pub count: u16,
    /// Indices into the PLC's tag list, in address order.
    pub tags: Vec<usize>,
}

impl ReadBlock {
    /// One past the last address read.
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PollPlan {
    pub blocks: Vec<ReadBlock>,
}

/// Plans the reads for `tags`. Tags must be validated (each fits in one
/// request and inside the 16-bit address space).
pub fn plan(tags: &[Tag], max_gap: u16) -> PollPlan {
    plan_subset(tags, 0..tags.len(), max_gap)
}

/// [`plan`] for a device that takes at most `max_registers` registers per
/// request (bits keep the protocol's limit).
pub fn plan_limited(tags: &[Tag], max_gap: u16, max_registers: u16) -> PollPlan {
    plan_within(tags, 0..tags.len(), max_gap, max_registers)
}

/// Plans reads for a subset of tags, e.g. to split a block that failed.
pub fn plan_subset(
    tags: &[Tag],
    subset: impl IntoIterator<Item = usize>,
    max_gap: u16,
) -> PollPlan {
    plan_within(tags, subset, max_gap, MAX_REGISTERS)
}

fn plan_within(
    tags: &[Tag],
    subset: impl IntoIterator<Item = usize>,
    max_gap: u16,
    max_registers: u16,
) -> PollPlan {
    let mut order: Vec<usize> = subset.into_iter().filter(|&i| i < tags.len()).collect();
    // A scan class is planned on its own: a request serves tags read in
    // the same scans.
    order.sort_by_key(|&i| {
        let t = &tags[i];
        (t.scan_every, t.table, t.address, t.count, i)
    });
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for i in order {
        let t = &tags[i];
        let (start, end) = (
            u32::from(t.address),
            u32::from(t.address) + u32::from(t.count),
        );
        if let Some(b) = blocks.last_mut() {
            let same_table = b.table == t.table && tags[b.tags[0]].scan_every == t.scan_every;
            let gap_ok = start <= b.end() + u32::from(max_gap);
            let new_end = end.max(b.end());
            let cap = if t.table.is_bits() {
                MAX_BITS
            } else {
                max_registers.min(MAX_REGISTERS)
            };
            let size_ok = new_end - u32::from(b.start) <= u32::from(cap);
            if same_table && gap_ok && size_ok {
                // new_end - start ≤ limit ≤ 2000, so it fits in u16.
                b.count = (new_end - u32::from(b.start)) as u16;
                b.tags.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock {
            table: t.table,
            start: t.address,
            count: t.count,
            tags: vec![i],
        });
    }
    PollPlan { blocks }
}

/// One request per distinct range of `subset`: the last resort for a block
/// the PLC refuses whole even without gaps (e.g. one unmapped register in
/// the middle of adjacent tags). Tags sharing a range (bits of one register)
/// still share its request.
pub fn plan_singles(tags: &[Tag], subset: impl IntoIterator<Item = usize>) -> PollPlan {
    let mut order: Vec<usize> = subset.into_iter().filter(|&i| i < tags.len()).collect();
    order.sort_by_key(|&i| {
        let t = &tags[i];
        (t.scan_every, t.table, t.address, t.count, i)
    });
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for i in order {
        let t = &tags[i];
        match blocks.last_mut() {
            Some(b)
                if (b.table, b.start, b.count) == (t.table, t.address, t.count)
                    && tags[b.tags[0]].scan_every == t.scan_every =>
            {
                b.tags.push(i)
            }
            _ => blocks.push(ReadBlock {
                table: t.table,
                start: t.address,
                count: t.count,
                tags: vec![i],
            }),
        }
    }
    PollPlan { blocks }
}

/// Fewest requests any planner could use: per table, the ranges that must be
/// read packed back to back ignoring gaps, divided by the request limit.
/// The benchmark reports requests per scan against this.
pub fn lower_bound(tags: &[Tag]) -> usize {
    let mut total = 0;
    for table in [Table::Coil, Table::Discrete, Table::Input, Table::Holding] {
        let mut ranges: Vec<(u32, u32)> = tags
            .iter()
            .filter(|t| t.table == table)
            .map(|t| {
                (
                    u32::from(t.address),
                    u32::from(t.address) + u32::from(t.count),
                )
            })
            .collect();
        if ranges.is_empty() {
            continue;
        }
        ranges.sort_unstable();
        let mut used = 0u32;
        let mut reach = 0u32;
        for (s, e) in ranges {
            let s = s.max(reach);
            if e > s {
                used += e - s;
            }
            reach = reach.max(e);
        }
        total += used.div_ceil(u32::from(limit(table))) as usize;
    }
    total
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{DataType, TagId};
    use proptest::prelude::*;

    pub(crate) fn tag(table: Table, address: u16, dt: DataType, length: u16) -> Tag {
        let id = TagId::new("p", "a", "e", format!("t{address}"));
        Tag::new(id, table, address, dt, length)
    }

    #[test]
    fn scan_classes_and_max_registers_split_requests() {
        let mut tags = vec![
            tag(Table::Holding, 0, DataType::U16, 0),
            tag(Table::Holding, 1, DataType::U16, 0),
            tag(Table::Holding, 2, DataType::U16, 0),
            tag(Table::Holding, 3, DataType::U16, 0),
        ];
        tags[1].scan_every = 5;
        tags[3].scan_every = 5;
        let got: Vec<_> = plan(&tags, 16)
            .blocks
            .iter()
            .map(|b| (b.start, b.count, b.tags.clone()))
            .collect();
        // Each class its own request, the PLC's own scan first.
        assert_eq!(got, [(0, 3, vec![0, 2]), (1, 3, vec![1, 3])]);
        let got: Vec<_> = plan_singles(&tags, 0..4)
            .blocks
            .iter()
            .map(|b| b.tags.clone())
            .collect();
        assert_eq!(got, [vec![0], vec![2], vec![1], vec![3]]);
        // A device taking 2 registers a request.
        tags.iter_mut().for_each(|t| t.scan_every = 1);
        let got: Vec<_> = plan_limited(&tags, 16, 2)
            .blocks
            .iter()
            .map(|b| (b.start, b.count))
            .collect();
        assert_eq!(got, [(0, 2), (2, 2)]);
    }

    #[test]
    fn merges_near_and_splits_far() {
        let tags = vec![
            tag(Table::Holding, 0, DataType::F32, 0),
            tag(Table::Holding, 2, DataType::U16, 0),
            tag(Table::Holding, 10, DataType::F64, 0), // gap 7 ≤ 16: merged
            tag(Table::Holding, 100, DataType::U16, 0), // gap 86: new block
            tag(Table::Input, 0, DataType::U16, 0),
            tag(Table::Coil, 5, DataType::Bool, 0),
            tag(Table::Coil, 7, DataType::Bool, 0),
        ];
        let p = plan(&tags, 16);
        let got: Vec<_> = p
            .blocks
            .iter()
            .map(|b| (b.table, b.start, b.count))
            .collect();
        assert_eq!(
            got,
            vec![
                (Table::Coil, 5, 3),
                (Table::Input, 0, 1),
                (Table::Holding, 0, 14),
                (Table::Holding, 100, 1),
            ]
        );
        // max_gap = 0 keeps adjacent tags together but bridges nothing.
        let p0 = plan(&tags, 0);
        assert_eq!(p0.blocks.len(), 6);
        assert_eq!((p0.blocks[3].start, p0.blocks[3].count), (0, 3));
    }

    #[test]
    fn respects_the_125_register_limit() {
        let tags: Vec<_> = (0..100)
            .map(|i| tag(Table::Holding, i * 2, DataType::F32, 0))
            .collect();
        let p = plan(&tags, 16);
        assert_eq!(p.blocks.len(), 2);
        assert!(p.blocks.iter().all(|b| b.count <= 125));
        assert_eq!(lower_bound(&tags), 2);
    }

    #[test]
    fn singles_give_each_range_its_own_request() {
        let mut bit3 = tag(Table::Holding, 1, DataType::Bool, 0);
        bit3.bit = Some(3);
        let mut bit4 = bit3.clone();
        bit4.bit = Some(4);
        let tags = vec![
            tag(Table::Holding, 0, DataType::U16, 0),
            bit3,
            tag(Table::Holding, 2, DataType::F32, 0),
            bit4,
        ];
        let p = plan_singles(&tags, 0..tags.len());
        let got: Vec<_> = p
            .blocks
            .iter()
            .map(|b| (b.start, b.count, b.tags.clone()))
            .collect();
        // The two bits of register 1 share its read.
        assert_eq!(
            got,
            vec![(0, 1, vec![0]), (1, 1, vec![1, 3]), (2, 2, vec![2])]
        );
    }

    fn arb_tags() -> impl Strategy<Value = Vec<Tag>> {
        let one = (0u8..4, 0u16..3000, 0u8..10, 1u16..40).prop_map(|(tb, addr, ty, len)| {
            let table = Table::ALL[tb as usize];
            // Every register type; index 9 wraps round to u16 again.
            let registers = &DataType::ALL[1..];
            let dt = if table.is_bits() {
                DataType::Bool
            } else {
                registers[ty as usize % registers.len()]
            };
            tag(table, addr, dt, len)
        });
        proptest::collection::vec(one, 0..200)
    }

    proptest! {
        #[test]
        fn plan_covers_every_tag_once_within_limits(tags in arb_tags(), max_gap in 0u16..64) {
            let p = plan(&tags, max_gap);
            let mut seen = vec![0usize; tags.len()];
            for b in &p.blocks {
                prop_assert!(b.count >= 1 && b.count <= limit(b.table));
                prop_assert!(b.end() <= 65536);
                // Every tag of the block lies inside it and in its table.
                for &i in &b.tags {
                    seen[i] += 1;
                    let t = &tags[i];
                    prop_assert_eq!(t.table, b.table);
                    prop_assert!(t.address >= b.start);
                    prop_assert!(u32::from(t.address) + u32::from(t.count) <= b.end());
                }
                // No uncovered run inside a block is longer than max_gap.
                let mut covered = vec![false; b.count as usize];
                for &i in &b.tags {
                    let t = &tags[i];
                    for a in t.address..t.address + t.count {
                        covered[(a - b.start) as usize] = true;
                    }
                }
                let mut run = 0u16;
                for c in covered {
                    run = if c { 0 } else { run + 1 };
                    prop_assert!(run <= max_gap, "gap of {} > max_gap {}", run, max_gap);
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1), "a tag was not covered exactly once");
            prop_assert!(p.blocks.len() >= lower_bound(&tags));
        }
    }
}
