//! Two tags may share a register only as distinct bits of it.
use std::collections::BTreeMap;

use super::Issues;
use crate::config::raw::Table;
use crate::config::settings::Tag;

/// `tags` are the PLC's valid tags with their index in the file.
pub(super) fn check(plc: usize, tags: &[(usize, Tag)], issues: &mut Issues) {
    let mut by_table: BTreeMap<Table, Vec<&(usize, Tag)>> = BTreeMap::new();
    for t in tags {
        by_table.entry(t.1.table).or_default().push(t);
    }
    for list in by_table.values_mut() {
        list.sort_by_key(|(_, t)| (t.address, t.count));
        sweep(plc, list, issues);
    }
}

fn end(t: &Tag) -> u32 {
    u32::from(t.address) + u32::from(t.count)
}

/// Walks one table in address order, keeping the tag whose range reaches
/// furthest so far: any later tag starting before that end overlaps it.
fn sweep(plc: usize, sorted: &[&(usize, Tag)], issues: &mut Issues) {
    let mut reach: Option<&(usize, Tag)> = None;
    for &cur in sorted {
        match reach {
            Some(prev) => {
                if u32::from(cur.1.address) < end(&prev.1) {
                    report(plc, prev, cur, issues);
                }
                if end(&cur.1) > end(&prev.1) {
                    reach = Some(cur);
                }
            }
            None => reach = Some(cur),
        }
    }
}

fn report(plc: usize, prev: &(usize, Tag), cur: &(usize, Tag), issues: &mut Issues) {
    let both_bits = prev.1.bit.is_some() && cur.1.bit.is_some() && prev.1.address == cur.1.address;
    if !both_bits {
        issues.add(
            format!("plc[{plc}].tag[{}].address", cur.0),
            format!(
                "{} register {} overlaps {}.{} (plc[{plc}].tag[{}], {}..{})",
                cur.1.table.as_str(),
                cur.1.address,
                prev.1.id.equipment,
                prev.1.id.name,
                prev.0,
                prev.1.address,
                end(&prev.1) - 1
            ),
        );
    } else if prev.1.bit == cur.1.bit {
        issues.add(
            format!("plc[{plc}].tag[{}].bit", cur.0),
            format!(
                "bit {} of register {} is also {}.{} (plc[{plc}].tag[{}])",
                cur.1.bit.unwrap_or(0),
                cur.1.address,
                prev.1.id.equipment,
                prev.1.id.name,
                prev.0
            ),
        );
    }
}
