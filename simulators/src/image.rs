//! A PLC's process image: the four tables as a client sees them, rendered
//! from the model after each batch of steps. Values a client wrote (with
//! `--allow-writes`) stay put over later renders, as a setpoint would.

use std::collections::BTreeMap;

use crate::map::PlcSpec;
use crate::registers::{encode, Table};
use crate::sim::SimCore;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlcImage {
    pub coils: Vec<bool>,
    pub discrete: Vec<bool>,
    pub input: Vec<u16>,
    pub holding: Vec<u16>,
    written_coils: BTreeMap<u16, bool>,
    written_holding: BTreeMap<u16, u16>,
}

impl PlcImage {
    /// All zero, sized to the PLC's mapped address space.
    pub fn new(plc: &PlcSpec) -> PlcImage {
        let size = |t| plc.table_size(t) as usize;
        PlcImage {
            coils: vec![false; size(Table::Coil)],
            discrete: vec![false; size(Table::Discrete)],
            input: vec![0; size(Table::Input)],
            holding: vec![0; size(Table::Holding)],
            ..PlcImage::default()
        }
    }

    pub fn bits(&self, table: Table) -> &[bool] {
        match table {
            Table::Coil => &self.coils,
            Table::Discrete => &self.discrete,
            _ => &[],
        }
    }

    pub fn registers(&self, table: Table) -> &[u16] {
        match table {
            Table::Input => &self.input,
            Table::Holding => &self.holding,
            _ => &[],
        }
    }

    /// Refresh every tag of `plc` (index `plc_index` in the map) from the core.
    pub fn render(&mut self, plc: &PlcSpec, plc_index: usize, core: &SimCore) {
        for (i, tag) in plc.tags.iter().enumerate() {
            let value = core.value(plc_index, i, tag);
            let at = usize::from(tag.address);
            match (tag.table, tag.bit) {
                (Table::Coil, _) => set(&mut self.coils, at, value.as_bool()),
                (Table::Discrete, _) => set(&mut self.discrete, at, value.as_bool()),
                (table, Some(bit)) => {
                    let regs = self.registers_mut(table);
                    if let Some(reg) = regs.get_mut(at) {
                        let mask = 1u16 << (bit & 15);
                        if value.as_bool() {
                            *reg |= mask;
                        } else {
                            *reg &= !mask;
                        }
                    }
                }
                (table, None) => {
                    let words = encode(&value, &tag.encoding());
                    let regs = self.registers_mut(table);
                    if let Some(slot) = regs.get_mut(at..at + words.len()) {
                        slot.copy_from_slice(&words);
                    }
                }
            }
        }
        for (&a, &v) in &self.written_coils {
            set(&mut self.coils, usize::from(a), v);
        }
        for (&a, &v) in &self.written_holding {
            if let Some(r) = self.holding.get_mut(usize::from(a)) {
                *r = v;
            }
        }
    }

    fn registers_mut(&mut self, table: Table) -> &mut Vec<u16> {
        match table {
            Table::Holding => &mut self.holding,
            _ => &mut self.input,
        }
    }

    /// Store coils a client wrote; the caller has checked the range.
    pub fn write_coils(&mut self, address: u16, values: &[bool]) {
        for (a, v) in (address..).zip(values) {
            self.written_coils.insert(a, *v);
            set(&mut self.coils, usize::from(a), *v);
        }
    }

    /// Store holding registers a client wrote; the caller has checked the range.
    pub fn write_holding(&mut self, address: u16, values: &[u16]) {
        for (a, v) in (address..).zip(values) {
            self.written_holding.insert(a, *v);
            if let Some(r) = self.holding.get_mut(usize::from(a)) {
                *r = *v;
            }
        }
    }
}

fn set(bits: &mut [bool], at: usize, value: bool) {
    if let Some(b) = bits.get_mut(at) {
        *b = value;
    }
}
