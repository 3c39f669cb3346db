//! The tags the KPI engine reads, declared once: each `[kpi]` key that
//! names a tag (`equipment.name`), what the engine does with it, whether a
//! config must give it, and which recovery formula reads it.
//!
//! Validation checks the references through [`KPI_INPUTS`], the engine
//! takes its roles from it and recompute queries the same tags, so adding an
//! input is a variant and a row here plus its field in [`KpiConfig`] and the
//! settings; the exhaustive matches below then point at what is missing.
//! The list lives in `config` because the keys are config keys; the KPI
//! module depends on config, never the other way round.
use serde::{Deserialize, Serialize};

use super::raw::KpiConfig;
use super::settings::{Kpi, Moisture, ThreeProductTags};

/// A `[kpi]` key naming a tag. Its serde name is the key, so it also names
/// the day composites of the assays in the saved KPI state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KpiInput {
    OreTotaliser,
    FeedAg,
    ConcAg,
    TailAg,
    OreRate,
    MillPower,
    MoistureTag,
    FeedPb,
    FeedZn,
    ConcPb,
    ConcZn,
    ZnConcPb,
    ZnConcZn,
    TailPb,
    TailZn,
    ZnConcAg,
}

/// What the engine does with an input's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRole {
    /// Belt-scale totaliser: tonnes are its deltas.
    Totaliser,
    /// Belt-scale rate: the totaliser's cross-check and stand-in.
    Rate,
    /// Mill power: availability.
    MillPower,
    /// Ore moisture: wet to dry tonnes.
    Moisture,
    /// Composited over the day, weighted by dry tonnes.
    Assay,
}

/// Whether a config must give an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
    /// All of the three-product set or none of it.
    ThreeProductSet,
}

/// Which recovery formulas read an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryUse {
    Neither,
    /// Two-product only (also the fallback when three-product is refused).
    TwoProduct,
    ThreeProduct,
    Both,
}

#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    pub input: KpiInput,
    pub key: &'static str,
    pub role: InputRole,
    pub need: Need,
    pub recovery: RecoveryUse,
}

const fn spec(
    input: KpiInput,
    key: &'static str,
    role: InputRole,
    need: Need,
    recovery: RecoveryUse,
) -> InputSpec {
    InputSpec {
        input,
        key,
        role,
        need,
        recovery,
    }
}

use InputRole as R;
use KpiInput as I;
use RecoveryUse as U;

/// Every KPI input, in [`KpiInput`] order (validation reports in this order).
pub const KPI_INPUTS: [InputSpec; 16] = [
    spec(
        I::OreTotaliser,
        "ore_totaliser",
        R::Totaliser,
        Need::Required,
        U::Neither,
    ),
    spec(I::FeedAg, "feed_ag", R::Assay, Need::Required, U::Both),
    spec(I::ConcAg, "conc_ag", R::Assay, Need::Required, U::Both),
    // Three-product balances Ag through the Pb and Zn assays instead.
    spec(
        I::TailAg,
        "tail_ag",
        R::Assay,
        Need::Required,
        U::TwoProduct,
    ),
    spec(I::OreRate, "ore_rate", R::Rate, Need::Optional, U::Neither),
    spec(
        I::MillPower,
        "mill_power",
        R::MillPower,
        Need::Optional,
        U::Neither,
    ),
    // Optional as a tag: `moisture_pct` may give a constant instead.
    spec(
        I::MoistureTag,
        "moisture_tag",
        R::Moisture,
        Need::Optional,
        U::Neither,
    ),
    spec(
        I::FeedPb,
        "feed_pb",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::FeedZn,
        "feed_zn",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::ConcPb,
        "conc_pb",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::ConcZn,
        "conc_zn",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::ZnConcPb,
        "zn_conc_pb",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::ZnConcZn,
        "zn_conc_zn",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::TailPb,
        "tail_pb",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    spec(
        I::TailZn,
        "tail_zn",
        R::Assay,
        Need::ThreeProductSet,
        U::ThreeProduct,
    ),
    // Only the reconciled balance reads it (`[kpi.reconcile]` requires it).
    spec(
        I::ZnConcAg,
        "zn_conc_ag",
        R::Assay,
        Need::Optional,
        U::Neither,
    ),
];

impl KpiInput {
    pub fn spec(self) -> &'static InputSpec {
        // The table is in enum order (checked by a test below).
        &KPI_INPUTS[self as usize]
    }

    /// The `[kpi]` key.
    pub fn key(self) -> &'static str {
        self.spec().key
    }
}

/// The three-product set's keys, for messages.
pub fn three_product_keys() -> impl Iterator<Item = &'static InputSpec> {
    KPI_INPUTS
        .iter()
        .filter(|s| s.need == Need::ThreeProductSet)
}

impl KpiConfig {
    /// The tag an input key names, when given.
    pub fn input(&self, i: KpiInput) -> Option<&String> {
        match i {
            I::OreTotaliser => Some(&self.ore_totaliser),
            I::FeedAg => Some(&self.feed_ag),
            I::ConcAg => Some(&self.conc_ag),
            I::TailAg => Some(&self.tail_ag),
            I::OreRate => self.ore_rate.as_ref(),
            I::MillPower => self.mill_power.as_ref(),
            I::MoistureTag => self.moisture_tag.as_ref(),
            I::FeedPb => self.feed_pb.as_ref(),
            I::FeedZn => self.feed_zn.as_ref(),
            I::ConcPb => self.conc_pb.as_ref(),
            I::ConcZn => self.conc_zn.as_ref(),
            I::ZnConcPb => self.zn_conc_pb.as_ref(),
            I::ZnConcZn => self.zn_conc_zn.as_ref(),
            I::TailPb => self.tail_pb.as_ref(),
            I::TailZn => self.tail_zn.as_ref(),
            I::ZnConcAg => self.zn_conc_ag.as_ref(),
        }
    }
}

impl ThreeProductTags {
    /// Builds the set from a lookup by input (validation has checked that
    /// every member is given).
    pub fn from_inputs(mut tag: impl FnMut(KpiInput) -> String) -> Self {
        ThreeProductTags {
            feed_pb: tag(I::FeedPb),
            feed_zn: tag(I::FeedZn),
            conc_pb: tag(I::ConcPb),
            conc_zn: tag(I::ConcZn),
            zn_conc_pb: tag(I::ZnConcPb),
            zn_conc_zn: tag(I::ZnConcZn),
            tail_pb: tag(I::TailPb),
            tail_zn: tag(I::TailZn),
        }
    }

    /// The tag of a member of the set; None for any other input.
    pub fn input(&self, i: KpiInput) -> Option<&str> {
        let tag = match i {
            I::FeedPb => &self.feed_pb,
            I::FeedZn => &self.feed_zn,
            I::ConcPb => &self.conc_pb,
            I::ConcZn => &self.conc_zn,
            I::ZnConcPb => &self.zn_conc_pb,
            I::ZnConcZn => &self.zn_conc_zn,
            I::TailPb => &self.tail_pb,
            I::TailZn => &self.tail_zn,
            _ => return None,
        };
        Some(tag)
    }
}

impl Kpi {
    /// The tag an input reads, when configured.
    pub fn input(&self, i: KpiInput) -> Option<&str> {
        match i {
            I::OreTotaliser => Some(&self.ore_totaliser),
            I::FeedAg => Some(&self.feed_ag),
            I::ConcAg => Some(&self.conc_ag),
            I::TailAg => Some(&self.tail_ag),
            I::OreRate => self.ore_rate.as_deref(),
            I::MillPower => self.mill_power.as_deref(),
            I::MoistureTag => match &self.moisture {
                Moisture::Tag(p) => Some(p),
                Moisture::Constant(_) => None,
            },
            I::ZnConcAg => self.zn_conc_ag.as_deref(),
            _ => self.three_product.as_ref()?.input(i),
        }
    }

    /// Every configured input with its tag, in [`KPI_INPUTS`] order.
    pub fn inputs(&self) -> impl Iterator<Item = (&'static InputSpec, &str)> {
        KPI_INPUTS
            .iter()
            .filter_map(|s| Some((s, self.input(s.input)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, Issue, RawConfig};

    /// A plant with one tag per KPI input (`e.<key>`) and a `[kpi]` table
    /// naming `keys` (`moisture_pct` when `moisture_tag` is not among them).
    fn config(keys: &[&str], kpi_extra: &str) -> RawConfig {
        let mut t = String::from(
            "[site]\nname = \"s\"\ntimezone = \"America/Lima\"\n\
             [influxdb]\nurl = \"http://127.0.0.1:8086\"\napi = \"v1\"\ndatabase = \"plant\"\n\
             [[plc]]\nname = \"p\"\narea = \"a\"\naddress = \"127.0.0.1:5021\"\n",
        );
        for (n, s) in KPI_INPUTS.iter().enumerate() {
            t += &format!(
                "[[plc.tag]]\nname = \"{}\"\nequipment = \"e\"\ntable = \"holding\"\naddress = {}\ntype = \"f32\"\n",
                s.key,
                2 * n
            );
        }
        t += "[kpi]\n";
        if !keys.contains(&"moisture_tag") {
            t += "moisture_pct = 4.0\n";
        }
        for k in keys {
            t += &format!("{k} = \"e.{k}\"\n");
        }
        t += kpi_extra;
        toml::from_str(&t).unwrap()
    }

    fn kpi_issues(raw: &RawConfig) -> Vec<Issue> {
        let dir = tempfile::tempdir().unwrap();
        match validate(raw, dir.path()) {
            Ok(_) => vec![],
            Err(issues) => issues
                .into_iter()
                .filter(|i| i.key.starts_with("kpi."))
                .collect(),
        }
    }

    #[test]
    fn every_key_reaches_the_settings_as_the_input_it_names() {
        let all: Vec<&str> = KPI_INPUTS.iter().map(|s| s.key).collect();
        let dir = tempfile::tempdir().unwrap();
        let settings = validate(&config(&all, ""), dir.path()).unwrap();
        let kpi = settings.kpi.unwrap();
        for s in &KPI_INPUTS {
            assert_eq!(kpi.input(s.input), Some(format!("e.{}", s.key).as_str()));
        }
        assert_eq!(kpi.inputs().count(), KPI_INPUTS.len());
    }

    #[test]
    fn required_inputs_are_required_and_bad_references_are_named() {
        let required: Vec<&str> = KPI_INPUTS
            .iter()
            .filter(|s| s.need == Need::Required)
            .map(|s| s.key)
            .collect();
        assert_eq!(required, ["ore_totaliser", "feed_ag", "conc_ag", "tail_ag"]);
        assert!(kpi_issues(&config(&required, "")).is_empty());
        let raw = config(&required[1..], "ore_totaliser = \"e.nowhere\"\n");
        assert_eq!(
            kpi_issues(&raw),
            [Issue {
                key: "kpi.ore_totaliser".into(),
                reason: "\"e.nowhere\" is not a configured tag (equipment.name)".into(),
            }]
        );
    }

    #[test]
    fn a_partial_three_product_set_is_refused_with_every_key_listed() {
        let keys = [
            "ore_totaliser",
            "feed_ag",
            "conc_ag",
            "tail_ag",
            "feed_pb",
            "tail_zn",
            "zn_conc_pb",
        ];
        assert_eq!(
            kpi_issues(&config(&keys, "")),
            [Issue {
                key: "kpi.feed_pb".into(),
                reason: "three-product recovery needs all 8 of feed_pb, feed_zn, conc_pb, \
                         conc_zn, zn_conc_pb, zn_conc_zn, tail_pb, tail_zn; 3 given"
                    .into(),
            }]
        );
    }

    #[test]
    fn table_is_in_enum_order_and_keys_are_the_serde_names() {
        for (n, s) in KPI_INPUTS.iter().enumerate() {
            assert_eq!(s.input as usize, n, "{} out of place", s.key);
            assert_eq!(
                serde_json::to_string(&s.input).unwrap(),
                format!("{:?}", s.key)
            );
        }
    }

    #[test]
    fn three_product_set_is_what_three_product_alone_reads() {
        for s in &KPI_INPUTS {
            assert_eq!(
                s.need == Need::ThreeProductSet,
                s.recovery == RecoveryUse::ThreeProduct,
                "{}",
                s.key
            );
            if s.recovery != RecoveryUse::Neither {
                assert_eq!(s.role, InputRole::Assay, "{}", s.key);
            }
        }
        assert_eq!(three_product_keys().count(), 8);
    }

    #[test]
    fn reconcile_needs_the_balance_inputs_and_assay_keyed_precisions() {
        let base = ["ore_totaliser", "feed_ag", "conc_ag", "tail_ag"];
        let three: Vec<&str> = three_product_keys().map(|s| s.key).collect();
        let all: Vec<&str> = base
            .iter()
            .chain(&three)
            .copied()
            .chain(["zn_conc_ag"])
            .collect();
        let section = "[kpi.reconcile]\nsd_rel_pct = { tail_ag = 12.5, conc_pb = 2.0 }\n";
        // Everything given: the precisions reach the settings, 5 % elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let kpi = validate(&config(&all, section), dir.path())
            .unwrap()
            .kpi
            .unwrap();
        let r = kpi.reconcile.unwrap();
        assert_eq!(r.sd_rel_pct(KpiInput::TailAg), 12.5);
        assert_eq!(r.sd_rel_pct(KpiInput::ConcPb), 2.0);
        assert_eq!(r.sd_rel_pct(KpiInput::ZnConcAg), 5.0);
        // Without zn_conc_ag, or without the three-product set.
        let no_zn_ag: Vec<&str> = all.iter().copied().filter(|k| *k != "zn_conc_ag").collect();
        assert_eq!(
            kpi_issues(&config(&no_zn_ag, section)),
            [Issue {
                key: "kpi.reconcile".into(),
                reason: "the reconciled balance needs zn_conc_ag (the Zn concentrate's Ag assay)"
                    .into(),
            }]
        );
        let two: Vec<&str> = base.iter().copied().chain(["zn_conc_ag"]).collect();
        let issues = kpi_issues(&config(&two, section));
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(
            issues[0].reason.contains("three-product keys (feed_pb"),
            "{issues:?}"
        );
        // A precision for something that is not an assay, or not a percentage.
        let bad = "[kpi.reconcile]\nsd_rel_pct = { ore_totaliser = 1.0, feed_ag = 0.0 }\n";
        let keys: Vec<String> = kpi_issues(&config(&all, bad))
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(
            keys,
            [
                "kpi.reconcile.sd_rel_pct.feed_ag",
                "kpi.reconcile.sd_rel_pct.ore_totaliser"
            ]
        );
    }
}
