//! Proof of coverage across an epoch: reward units, and the checks single-link rules
//! cannot see.
//!
//! Each valid witness passed every rule of [`crate::coverage`] on its own; farmed
//! networks passed them too. Looking at all of an epoch's valid witnesses together shows
//! what a single link cannot:
//!
//! - **RSSI near the free-space bound.** Real links lose far more than free space (path-loss
//!   exponent 2.7–3.5: about 30 dB more at 1 km); a box of radios attenuated to sit just
//!   under the bound stays within a few dB of it, beacon after beacon.
//! - **RSSI that does not follow the transmit power.** The network picks each beacon's
//!   power at random; an honest receiver hears 6 dB less when the beacon is 6 dB quieter, a
//!   relay that invents RSSI does not know the power and cannot follow it.
//! - **Closed cliques.** Devices that witness only each other, with no link to the rest of
//!   the network.
//! - **Silent neighbours.** A device whose asserted neighbours (active witnesses within
//!   radio range) never hear it, while it is heard elsewhere, is not where it says.
//!
//! Each detector returns a score per device with its evidence; thresholds turn scores into
//! reason codes, so they can be swept and published. Integer arithmetic throughout.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::KeyId;

use crate::locate::{Fix, LocateParams, Locator, located_elsewhere};
use crate::radio::Point;
use crate::spatial::Grid;
use crate::verdict::ReasonCode;

/// One valid witness of one beacon, as the epoch's checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct Link {
    pub beaconer: KeyId,
    pub witness: KeyId,
    pub tx_power_dbm10: i32,
    pub rssi_dbm10: i32,
    /// The free-space bound for this link (what [`crate::coverage::check_witness`]
    /// compared against), dBm × 10.
    pub bound_dbm10: i32,
    /// What the propagation model expects over the asserted distance
    /// ([`crate::radio::model_rssi_dbm10`]), dBm × 10.
    pub expected_dbm10: i32,
    /// How long after the beacon's first witness this one was reported, ms.
    pub lag_ms: u64,
}

/// Reward units of one beacon with `w` valid witnesses (counted up to the cap), in
/// millionths: the beaconer earns w/4 up to four witnesses, then saturates toward 2; the
/// witnesses share units that grow by a quarter per witness past four, so a crowd of
/// witnesses earns each one less. Returns (beaconer units, units per witness).
pub fn beacon_units(w: u64) -> (u64, u64) {
    const ONE: u64 = 1_000_000;
    if w == 0 {
        return (0, 0);
    }
    let beaconer = if w <= 4 {
        w * ONE / 4
    } else {
        // 1 + (w − 4) / (w − 4 + 4): 1.5 at 8 witnesses, approaching 2.
        ONE + (w - 4) * ONE / w
    };
    let witnesses_total = if w <= 4 {
        w * ONE
    } else {
        4 * ONE + (w - 4) * ONE / 4
    };
    (beaconer, witnesses_total / w)
}

/// The median of `values` (the lower middle one for an even count).
fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

/// One link with its devices by rank.
#[derive(Debug, Clone, Copy)]
struct RankedLink {
    beaconer: u32,
    witness: u32,
    tx_power_dbm10: i32,
    rssi_dbm10: i32,
    bound_dbm10: i32,
    expected_dbm10: i32,
    lag_ms: u64,
}

/// A window's links with each device replaced by its rank among the window's devices
/// (ranks order as the keys do), sorted by (witness, beaconer): the detectors group a
/// million links by slicing a sorted list instead of inserting each into ordered maps of
/// 32-byte keys, which was most of an epoch's time. Every result is built in key order,
/// so it is the same as grouping by key.
#[derive(Debug)]
struct Ranked {
    keys: Vec<KeyId>,
    links: Vec<RankedLink>,
    /// Where each (witness, beaconer) group starts in `links`, with its pair; a final
    /// entry marks the end.
    groups: Vec<(u64, usize)>,
}

/// A (first, second) pair of ranks as one sortable integer.
fn pair(first: u32, second: u32) -> u64 {
    (u64::from(first) << 32) | u64::from(second)
}

impl Ranked {
    fn new(links: &[Link]) -> Ranked {
        let mut numbers = crate::Numbering::default();
        let mut out: Vec<RankedLink> = links
            .iter()
            .map(|l| RankedLink {
                beaconer: numbers.number(l.beaconer),
                witness: numbers.number(l.witness),
                tx_power_dbm10: l.tx_power_dbm10,
                rssi_dbm10: l.rssi_dbm10,
                bound_dbm10: l.bound_dbm10,
                expected_dbm10: l.expected_dbm10,
                lag_ms: l.lag_ms,
            })
            .collect();
        let (keys, rank) = numbers.ranked();
        for l in &mut out {
            l.beaconer = rank[l.beaconer as usize];
            l.witness = rank[l.witness as usize];
        }
        // Stable: within a group the links keep their order.
        out.sort_by_key(|l| pair(l.witness, l.beaconer));
        let mut groups: Vec<(u64, usize)> = Vec::new();
        for (i, l) in out.iter().enumerate() {
            let p = pair(l.witness, l.beaconer);
            if groups.last().is_none_or(|(q, _)| *q != p) {
                groups.push((p, i));
            }
        }
        groups.push((u64::MAX, out.len()));
        Ranked {
            keys,
            links: out,
            groups,
        }
    }

    /// Each (witness, beaconer) pair with its links.
    fn by_pair(&self) -> impl Iterator<Item = (u32, u32, &[RankedLink])> {
        self.groups.windows(2).map(|g| {
            let (p, from) = g[0];
            ((p >> 32) as u32, p as u32, &self.links[from..g[1].1])
        })
    }

    /// Each witness with its links (in (witness, beaconer) order).
    fn by_witness(&self) -> impl Iterator<Item = (u32, &[RankedLink])> {
        self.links
            .chunk_by(|a, b| a.witness == b.witness)
            .map(|ls| (ls[0].witness, ls))
    }

    /// Per witness, the median and count of `value` over its links.
    fn witness_medians(&self, value: impl Fn(&RankedLink) -> i64) -> BTreeMap<KeyId, (i64, usize)> {
        self.by_witness()
            .filter_map(|(w, ls)| {
                median(ls.iter().map(&value).collect())
                    .map(|m| (self.keys[w as usize], (m, ls.len())))
            })
            .collect()
    }

    fn free_space_margins(&self) -> BTreeMap<KeyId, (i64, usize)> {
        self.witness_medians(|l| i64::from(l.bound_dbm10) - i64::from(l.rssi_dbm10))
    }

    fn model_residuals(&self) -> BTreeMap<KeyId, (i64, usize)> {
        self.witness_medians(|l| i64::from(l.rssi_dbm10) - i64::from(l.expected_dbm10))
    }

    fn reciprocity_asymmetry(&self) -> BTreeMap<KeyId, (i64, usize)> {
        // Mean path gain (RSSI − transmit power) per directed pair, keyed (witness,
        // beaconer) and sorted.
        let gains: Vec<(u64, i64)> = self
            .by_pair()
            .map(|(w, b, ls)| {
                let sum: i64 = ls
                    .iter()
                    .map(|l| i64::from(l.rssi_dbm10) - i64::from(l.tx_power_dbm10))
                    .sum();
                (pair(w, b), sum / ls.len() as i64)
            })
            .collect();
        let mut by: Vec<Vec<i64>> = vec![Vec::new(); self.keys.len()];
        for (p, mean) in &gains {
            let (w, b) = ((p >> 32) as u32, *p as u32);
            // W heard B; did B hear W?
            if let Ok(i) = gains.binary_search_by_key(&pair(b, w), |(q, _)| *q) {
                by[w as usize].push(mean - gains[i].1);
            }
        }
        self.per_device(by)
    }

    /// Per device with values: the median and count.
    fn per_device(&self, by: Vec<Vec<i64>>) -> BTreeMap<KeyId, (i64, usize)> {
        by.into_iter()
            .enumerate()
            .filter_map(|(k, a)| {
                let n = a.len();
                median(a).map(|v| (self.keys[k], (v, n)))
            })
            .collect()
    }

    fn power_following(&self) -> BTreeMap<KeyId, Option<i64>> {
        // Pool within-link covariance and variance per witness (n²-scaled per link, then
        // divided by n to weigh each link by its observations).
        let mut pooled: BTreeMap<u32, (i128, i128)> = BTreeMap::new();
        for (w, _, ls) in self.by_pair() {
            let [mut n, mut sp, mut sr, mut spp, mut spr] = [0i128; 5];
            for l in ls {
                let (p, r) = (i128::from(l.tx_power_dbm10), i128::from(l.rssi_dbm10));
                n += 1;
                sp += p;
                sr += r;
                spp += p * p;
                spr += p * r;
            }
            let e = pooled.entry(w).or_default();
            e.0 += (n * spr - sp * sr) / n;
            e.1 += (n * spp - sp * sp) / n;
        }
        pooled
            .into_iter()
            .map(|(k, (cov, var))| {
                (
                    self.keys[k as usize],
                    (var > 0).then(|| (cov * 1_000_000 / var) as i64),
                )
            })
            .collect()
    }

    fn relayed_links(
        &self,
        min_obs: usize,
        min_per_power: usize,
        min_slope_ppm: i64,
        max_lag_ms: u64,
        min_rssi_dbm10: i32,
    ) -> BTreeMap<KeyId, usize> {
        // The quietest power the network used.
        let quietest = self
            .links
            .iter()
            .map(|l| i64::from(l.tx_power_dbm10))
            .min()
            .unwrap_or(0);
        let strong = |ls: &[RankedLink]| {
            median(
                ls.iter()
                    .map(|l| i64::from(l.rssi_dbm10) - i64::from(l.tx_power_dbm10))
                    .collect(),
            )
            .is_some_and(|g| g + quietest >= i64::from(min_rssi_dbm10))
                && spread(ls, min_per_power)
        };
        let mut out: BTreeMap<KeyId, usize> = BTreeMap::new();
        for (w, _, ls) in self.by_pair() {
            if ls.len() < min_obs {
                continue;
            }
            let late = median(
                ls.iter()
                    .map(|l| i64::try_from(l.lag_ms).unwrap_or(i64::MAX))
                    .collect(),
            )
            .is_some_and(|m| m > i64::try_from(max_lag_ms).unwrap_or(i64::MAX));
            if late || (strong(ls) && power_slope(ls).is_some_and(|s| s < min_slope_ppm)) {
                *out.entry(self.keys[w as usize]).or_default() += 1;
            }
        }
        out
    }

    fn closed_cliques(&self, max_size: usize) -> Vec<Vec<KeyId>> {
        let mut partners: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); self.keys.len()];
        for (w, b, _) in self.by_pair() {
            if w != b {
                partners[b as usize].insert(w);
                partners[w as usize].insert(b);
            }
        }
        let mut seen = vec![false; self.keys.len()];
        let mut out = Vec::new();
        for start in 0..self.keys.len() {
            if seen[start] || partners[start].is_empty() {
                continue;
            }
            // The connected group of `start`.
            let mut group = BTreeSet::from([start as u32]);
            let mut todo = vec![start as u32];
            while let Some(k) = todo.pop() {
                for p in &partners[k as usize] {
                    if group.insert(*p) {
                        todo.push(*p);
                    }
                }
            }
            for k in &group {
                seen[*k as usize] = true;
            }
            if group.len() >= 3
                && group.len() <= max_size
                && group.iter().all(|k| partners[*k as usize].len() >= 2)
            {
                out.push(group.iter().map(|k| self.keys[*k as usize]).collect());
            }
        }
        out
    }

    fn near_peers_heard(
        &self,
        beaconers: &BTreeSet<KeyId>,
        locations: &BTreeMap<KeyId, Point>,
        range_m: u64,
        distrusted: &BTreeSet<KeyId>,
    ) -> BTreeMap<KeyId, (usize, usize)> {
        // Who heard each beaconer (ranks, sorted), and the active witnesses' sites.
        let mut heard_by: Vec<Vec<u32>> = vec![Vec::new(); self.keys.len()];
        let mut active: Vec<(u32, Point)> = Vec::new();
        for (w, b, _) in self.by_pair() {
            heard_by[b as usize].push(w);
            if active.last().is_none_or(|(a, _)| *a != w)
                && !distrusted.contains(&self.keys[w as usize])
                && let Some(at) = locations.get(&self.keys[w as usize])
            {
                active.push((w, *at));
            }
        }
        let grid = Grid::new(active.iter().map(|(_, p)| *p).collect(), range_m);
        beaconers
            .iter()
            .filter_map(|b| {
                let at = locations.get(b)?;
                let rank = self.keys.binary_search(b).ok();
                let heard: &[u32] = rank.map_or(&[], |r| &heard_by[r]);
                let near: Vec<u32> = grid
                    .within(at, range_m)
                    .into_iter()
                    .map(|i| active[i].0)
                    .filter(|w| Some(*w as usize) != rank)
                    .collect();
                let got = near
                    .iter()
                    .filter(|w| heard.binary_search(w).is_ok())
                    .count();
                Some((*b, (got, near.len())))
            })
            .collect()
    }
}

/// Per witness: the median margin (dB × 10) by which its RSSI stayed under the free-space
/// bound, and how many links it is over. Honest links sit tens of dB under it.
pub fn free_space_margins(links: &[Link]) -> BTreeMap<KeyId, (i64, usize)> {
    Ranked::new(links).free_space_margins()
}

/// Per witness: the median residual (dB × 10) of its RSSI against the propagation model
/// over the asserted distances, and how many links. Honest receivers scatter around 0 (the
/// shadowing averages out); a receiver that inflates its RSSI, or a box of radios whose
/// asserted sites are far apart, sits well above it.
pub fn model_residuals(links: &[Link]) -> BTreeMap<KeyId, (i64, usize)> {
    Ranked::new(links).model_residuals()
}

/// Per witness: the median asymmetry (dB × 10) of its links. A radio channel is
/// reciprocal — the loss from A to B is the loss from B to A — so what W reports hearing
/// from P (less P's transmit power) should match what P reports hearing from W (less W's),
/// up to fading. A receiver that adds gain to its reports sits that many dB above its
/// partners, link after link. Returns (median, partners compared).
pub fn reciprocity_asymmetry(links: &[Link]) -> BTreeMap<KeyId, (i64, usize)> {
    Ranked::new(links).reciprocity_asymmetry()
}

/// Per witness: how its RSSI follows the beacons' transmit power, as the least-squares
/// slope of RSSI on power within each link (beaconer, witness), pooled over its links, in
/// millionths (1,000,000: follows exactly; about 0: does not). `None` where its links never
/// saw two different powers.
pub fn power_following(links: &[Link]) -> BTreeMap<KeyId, Option<i64>> {
    Ranked::new(links).power_following()
}

/// Per link (witness, beaconer) with at least `min_obs` observations over at least two
/// transmit powers: the slope of RSSI on power, in millionths. A relayed link
/// (invented RSSI) is near 0 while the same device's real links follow the power, so
/// links are judged one by one.
pub fn link_power_slopes(links: &[Link], min_obs: usize) -> BTreeMap<(KeyId, KeyId), i64> {
    let r = Ranked::new(links);
    r.by_pair()
        .filter(|(_, _, ls)| ls.len() >= min_obs)
        .filter_map(|(w, b, ls)| Some(((r.keys[w as usize], r.keys[b as usize]), power_slope(ls)?)))
        .collect()
}

/// The Theil–Sen slope of RSSI on transmit power over one link's observations, in
/// millionths.
fn power_slope(ls: &[RankedLink]) -> Option<i64> {
    let points: Vec<(i64, i64)> = ls
        .iter()
        .map(|l| (i64::from(l.tx_power_dbm10), i64::from(l.rssi_dbm10)))
        .collect();
    theil_sen(&points, 1_000_000)
}

/// Whether at least two transmit powers were each heard `min_per_power` times. Six
/// beacons at one power and two at another leave the slope to two observations: one
/// faded or ducted transmission among them makes a real link look flat.
fn spread(ls: &[RankedLink], min_per_power: usize) -> bool {
    let mut powers: Vec<i32> = ls.iter().map(|l| l.tx_power_dbm10).collect();
    powers.sort_unstable();
    powers
        .chunk_by(|a, b| a == b)
        .filter(|same| same.len() >= min_per_power)
        .count()
        >= 2
}

/// The Theil–Sen slope of `points` (x, y) times `scale`: the median of the slopes between
/// every two points with different x, robust to a few wild points.
fn theil_sen(points: &[(i64, i64)], scale: i64) -> Option<i64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if a.0 != b.0 {
                slopes.push((b.1 - a.1) * scale / (b.0 - a.0));
            }
        }
    }
    median(slopes)
}

/// Per witness: how many of its links look relayed — over at least `min_obs`
/// observations, RSSI that does not follow the transmit power (Theil–Sen slope below
/// `min_slope_ppm`) or reports that are late link after link (median lag after the first
/// witness above `max_lag_ms`: the internet is slower than the air). The slope is only
/// judged on links strong enough that even the quietest beacon is heard well above
/// `min_rssi_dbm10`: near a receiver's sensitivity the quieter beacons go unheard, the
/// ones heard are those that faded up, and a real link looks flat. Judging whole links
/// (not dropping weak observations, which censors the same way) keeps the fit honest.
pub fn relayed_links(
    links: &[Link],
    min_obs: usize,
    min_per_power: usize,
    min_slope_ppm: i64,
    max_lag_ms: u64,
    min_rssi_dbm10: i32,
) -> BTreeMap<KeyId, usize> {
    Ranked::new(links).relayed_links(
        min_obs,
        min_per_power,
        min_slope_ppm,
        max_lag_ms,
        min_rssi_dbm10,
    )
}

/// Closed groups: connected groups of the witness graph (an edge between a beaconer and
/// each valid witness) of at most `max_size` devices whose every member has at least two
/// partners, all inside the group. Each group is listed once, its members sorted.
pub fn closed_cliques(links: &[Link], max_size: usize) -> Vec<Vec<KeyId>> {
    Ranked::new(links).closed_cliques(max_size)
}

/// Per beaconer (every device in `beaconers`, heard or not): of the active witnesses
/// (devices that witnessed anyone, less the `distrusted`) whose asserted location is
/// within `range_m` of its own, how many heard it, and how many there were. A device its
/// near neighbours never hear is not where it says it is — unless those neighbours are
/// not where they say either: a farm's radios assert sites scattered around their box and
/// hear no one outside it, so devices already caught lying say nothing by their silence.
pub fn near_peers_heard(
    links: &[Link],
    beaconers: &BTreeSet<KeyId>,
    locations: &BTreeMap<KeyId, Point>,
    range_m: u64,
    distrusted: &BTreeSet<KeyId>,
) -> BTreeMap<KeyId, (usize, usize)> {
    Ranked::new(links).near_peers_heard(beaconers, locations, range_m, distrusted)
}

/// Thresholds turning the detectors' scores into reason codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectParams {
    /// Flag a witness whose median margin under the free-space bound is below this
    /// (dB × 10) over at least `min_links` links.
    pub min_margin_db10: i64,
    pub min_links: usize,
    /// Flag a witness that reports hearing its partners louder than they hear it, by more
    /// than this (dB × 10, median over at least `min_partners` partners).
    pub max_asymmetry_db10: i64,
    pub min_partners: usize,
    /// Flag a device when at least this share (millionths) of the witness reports it took
    /// part in (at least `min_reports`) broke the distance or free-space rules.
    pub max_violation_ppm: u64,
    pub min_reports: u64,
    /// A link looks relayed when, over at least `min_link_obs` observations, its RSSI
    /// follows the power with a slope below `min_power_slope_ppm` or its median lag after
    /// the first witness exceeds `max_lag_ms`; a witness with `min_relayed` such links is
    /// flagged. Only links whose median gain at the quietest power stays at or above
    /// `min_slope_rssi_dbm10` are judged on their slope.
    pub min_power_slope_ppm: i64,
    pub max_lag_ms: u64,
    pub min_link_obs: usize,
    /// A link's slope is judged only when at least two powers were each heard this many
    /// times.
    pub min_obs_per_power: usize,
    pub min_relayed: usize,
    pub min_slope_rssi_dbm10: i32,
    /// Closed cliques of at most this many devices are flagged.
    pub max_clique: usize,
    /// A beaconer none of whose (at least this many) active peers within `near_range_m`
    /// heard it.
    pub min_silent_peers: usize,
    pub near_range_m: u64,
    /// Flag a device whose links place it at least `offset` metres from its asserted
    /// site with an F score (× 100) of at least `score`, for any of these tiers: close
    /// to the site the fit's scatter needs strong evidence, farther out less.
    pub locate_tiers: Vec<(u64, u64)>,
    /// A partner placed at least this far off with at least this score (× 100, raised
    /// for small samples alike) is left out when a device placed elsewhere is refitted.
    pub suspect_offset_m: u64,
    pub suspect_score: u64,
    pub locate: LocateParams,
}

impl Default for DetectParams {
    fn default() -> Self {
        DetectParams {
            min_margin_db10: 80,
            min_links: 4,
            max_asymmetry_db10: 50,
            min_partners: 3,
            max_violation_ppm: 500_000,
            min_reports: 4,
            min_power_slope_ppm: 300_000,
            max_lag_ms: 600,
            min_link_obs: 8,
            min_obs_per_power: 3,
            min_relayed: 2,
            min_slope_rssi_dbm10: -1_250,
            max_clique: 8,
            min_silent_peers: 3,
            near_range_m: 3_000,
            locate_tiers: vec![(2_000, 900), (4_000, 450)],
            suspect_offset_m: 1_000,
            suspect_score: 450,
            locate: LocateParams::default(),
        }
    }
}

/// How much larger an F statistic must be with `df` residual degrees of freedom than with
/// very many for the same confidence, × 100: the 1% critical value of F(2, df) over its
/// limit (4.61), from the standard tables, rounded up between the tabulated points
/// (fewer than 3: no score is enough).
pub fn small_sample_x100(df: usize) -> u64 {
    const TABLE: [(usize, u64); 16] = [
        (3, 668),
        (4, 390),
        (5, 288),
        (6, 237),
        (7, 207),
        (8, 188),
        (9, 174),
        (10, 164),
        (12, 150),
        (15, 138),
        (20, 127),
        (30, 117),
        (40, 112),
        (60, 108),
        (120, 104),
        (1_000, 100),
    ];
    let mut out = u64::MAX;
    for (d, m) in TABLE {
        if df >= d {
            out = m;
        }
    }
    out
}

/// What the detectors read over a window of epochs.
#[derive(Debug, Clone, Copy)]
pub struct DetectInput<'a> {
    /// Every witness that passed the rules (paid or past the cap).
    pub links: &'a [Link],
    /// Every admitted report of a heard beacon: (beaconer, witness, gain dB × 10).
    pub heard: &'a [(KeyId, KeyId, i32)],
    /// Per device: the witness reports it took part in (either end), and how many broke
    /// the distance or free-space rules.
    pub reports: &'a BTreeMap<KeyId, (u64, u64)>,
    /// The devices that beaconed.
    pub beaconers: &'a BTreeSet<KeyId>,
    /// Asserted sites.
    pub locations: &'a BTreeMap<KeyId, Point>,
}

/// Run every epoch-wide detector: per flagged device, its reasons in the order the
/// detectors run (margin under free space, asymmetric links, site contradicted, relayed
/// links, closed cliques, located elsewhere, silent neighbours).
pub fn detect(input: &DetectInput<'_>, p: &DetectParams) -> BTreeMap<KeyId, Vec<ReasonCode>> {
    let mut out: BTreeMap<KeyId, Vec<ReasonCode>> = BTreeMap::new();
    fn flag(out: &mut BTreeMap<KeyId, Vec<ReasonCode>>, k: KeyId, why: ReasonCode) {
        let reasons = out.entry(k).or_default();
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    }
    let ranked = Ranked::new(input.links);
    for (k, (m, n)) in ranked.free_space_margins() {
        if n >= p.min_links && m < p.min_margin_db10 {
            flag(&mut out, k, ReasonCode::RssiNearFreeSpace);
        }
    }
    for (k, (a, n)) in ranked.reciprocity_asymmetry() {
        if n >= p.min_partners && a > p.max_asymmetry_db10 {
            flag(&mut out, k, ReasonCode::AsymmetricLinks);
        }
    }
    for (k, (total, broke)) in input.reports {
        if *total >= p.min_reports
            && u128::from(*broke) * 1_000_000
                >= u128::from(p.max_violation_ppm) * u128::from(*total)
        {
            flag(&mut out, *k, ReasonCode::SiteContradicted);
        }
    }
    for (k, n) in ranked.relayed_links(
        p.min_link_obs,
        p.min_obs_per_power,
        p.min_power_slope_ppm,
        p.max_lag_ms,
        p.min_slope_rssi_dbm10,
    ) {
        if n >= p.min_relayed {
            flag(&mut out, k, ReasonCode::RelayedLinks);
        }
    }
    for group in ranked.closed_cliques(p.max_clique) {
        for k in group {
            flag(&mut out, k, ReasonCode::ClosedClique);
        }
    }
    // Every radio that reported hearing anything was listening. Devices the checks above
    // caught lying inform nobody's fit.
    let listening: BTreeSet<KeyId> = input.heard.iter().map(|(_, w, _)| *w).collect();
    let locator = Locator::new(input.heard, &listening, input.locations, &p.locate);
    let distrusted: BTreeSet<KeyId> = out.keys().copied().collect();
    let elsewhere = |fix: &Fix| {
        // Few witnesses make a large F likely by chance: each tier's score rises with
        // the F distribution's critical value for the fit's degrees of freedom.
        let small = small_sample_x100(fix.witnesses.saturating_sub(3));
        p.locate_tiers.iter().any(|(offset, score)| {
            fix.offset_m >= *offset
                && u128::from(fix.score_x100) * 100 >= u128::from(*score) * u128::from(small)
        })
    };
    // A weaker test for the partners a fit is checked without: a kilometre off at the
    // far tier's confidence.
    let suspect = |fix: &Fix| {
        let small = small_sample_x100(fix.witnesses.saturating_sub(3));
        fix.offset_m >= p.suspect_offset_m
            && u128::from(fix.score_x100) * 100 >= u128::from(p.suspect_score) * u128::from(small)
    };
    for k in located_elsewhere(&locator, &distrusted, elsewhere, suspect).into_keys() {
        flag(&mut out, k, ReasonCode::LocatedElsewhere);
    }
    let caught: BTreeSet<KeyId> = out.keys().copied().collect();
    for (k, (heard, near)) in
        ranked.near_peers_heard(input.beaconers, input.locations, p.near_range_m, &caught)
    {
        if near >= p.min_silent_peers && heard == 0 {
            flag(&mut out, k, ReasonCode::SilentNeighbours);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_key as key;

    fn link(b: u32, w: u32, p: i32, r: i32, bound: i32) -> Link {
        Link {
            beaconer: key(b),
            witness: key(w),
            tx_power_dbm10: p,
            rssi_dbm10: r,
            bound_dbm10: bound,
            expected_dbm10: bound - 250,
            lag_ms: 100,
        }
    }

    #[test]
    fn reciprocity_exposes_added_gain() {
        // 1 ↔ 2 honest: each hears the other at the same path gain (−117 dB) up to 1 dB of
        // fading. 3 adds 10 dB to whatever it reports hearing from 1.
        let links = [
            link(1, 2, 270, -900, -600),
            link(2, 1, 240, -925, -600),
            link(1, 3, 270, -800, -600),
            link(3, 1, 270, -900, -600),
        ];
        let a = reciprocity_asymmetry(&links);
        assert_eq!(a[&key(2)], (-5, 1));
        assert_eq!(a[&key(1)], (-100, 2)); // the partners' median: (5, −100) → −100
        assert_eq!(a[&key(3)], (100, 1));
    }

    #[test]
    fn residuals_against_the_model() {
        // Witness 2 scatters around the model (bound − 25 dB); witness 3 sits 10 dB above.
        let links = [
            link(1, 2, 270, -850, -600),
            link(1, 2, 270, -870, -600),
            link(1, 2, 270, -840, -600),
            link(1, 3, 270, -750, -600),
            link(1, 3, 270, -740, -600),
            link(1, 3, 270, -760, -600),
        ];
        let r = model_residuals(&links);
        assert_eq!(r[&key(2)], (0, 3));
        assert_eq!(r[&key(3)], (100, 3));
    }

    #[test]
    fn units_grow_then_saturate() {
        assert_eq!(beacon_units(0), (0, 0));
        assert_eq!(beacon_units(1), (250_000, 1_000_000));
        assert_eq!(beacon_units(4), (1_000_000, 1_000_000));
        assert_eq!(beacon_units(8), (1_500_000, 625_000));
        let (b14, w14) = beacon_units(14);
        assert_eq!(b14, 1_714_285);
        assert_eq!(w14, 464_285);
        // More witnesses never lower the beaconer's units nor raise each witness's.
        for w in 1..30 {
            assert!(beacon_units(w + 1).0 >= beacon_units(w).0);
            assert!(beacon_units(w + 1).1 <= beacon_units(w).1);
            assert!(beacon_units(w).0 < 2_000_000);
        }
    }

    #[test]
    fn margins_under_the_bound() {
        // Witness 2 sits 30 dB under the bound; witness 3 within 2 dB of it.
        let links = [
            link(1, 2, 270, -900, -600),
            link(1, 2, 270, -910, -600),
            link(1, 2, 270, -880, -600),
            link(1, 3, 270, -620, -600),
            link(1, 3, 270, -615, -600),
        ];
        let m = free_space_margins(&links);
        assert_eq!(m[&key(2)], (300, 3));
        assert_eq!(m[&key(3)], (15, 2));
    }

    #[test]
    fn rssi_follows_power_for_a_real_receiver_only() {
        // Witness 2 hears 3 and 6 dB less when the beacon is 3 and 6 dB quieter (with
        // 1 dB of noise); witness 3 (a relay) reports the same RSSI whatever the power.
        let mut links = Vec::new();
        for (i, p) in [270, 240, 210, 270, 210, 240].iter().enumerate() {
            let noise = [5, -5, 0, -10, 10, 0][i];
            links.push(link(1, 2, *p, -900 + (*p - 270) + noise, -600));
            links.push(link(1, 3, *p, -850, -600));
        }
        let f = power_following(&links);
        // Slope = 1 + Σ(Δp·noise)/ΣΔp² = 1 − 450/3600 = 0.875: it follows, noise and all.
        assert_eq!(f[&key(2)], Some(875_000));
        assert_eq!(f[&key(3)], Some(0));
        // One power only: nothing to say.
        let same = [link(1, 4, 270, -900, -600), link(1, 4, 270, -910, -600)];
        assert_eq!(power_following(&same)[&key(4)], None);
    }

    #[test]
    fn relayed_links_are_flat_or_late_and_weak_links_are_not_judged_flat() {
        let powers = [270, 240, 210, 270, 210, 240, 270, 240, 210];
        let fading = [5, -5, 0, -10, 10, 0, 3, -3, 0];
        let mut links = Vec::new();
        for (i, p) in powers.iter().enumerate() {
            // Witness 2: a strong real link (gain −90 dB), following the power.
            links.push(link(1, 2, *p, *p - 900 + fading[i], -600));
            // Witness 3: a relay inventing −100 dBm ± 1 dB whatever the power.
            links.push(link(1, 3, *p, -1_000 + fading[i], -600));
            // Witness 4: a real link at the floor, heard only when a beacon faded up, so
            // at about −129 dBm whatever the power — flat-looking, but too weak to judge.
            links.push(link(1, 4, *p, -1_290 + fading[i], -600));
            // Witness 5: a strong real link whose reports come 800 ms after the first.
            links.push(Link {
                lag_ms: 800,
                ..link(1, 5, *p, *p - 850 + fading[i], -600)
            });
        }
        // The quietest power is 21 dBm: witness 2's link sits at 21 − 90 = −69 dBm and
        // witness 3's median gain −100 − 24 = −124 dB gives −103 dBm — both judged;
        // witness 4's −129 − 24 = −153 dB gives −132 dBm, under −125: not judged.
        let relayed = relayed_links(&links, 8, 3, 300_000, 600, -1_250);
        assert_eq!(relayed.get(&key(2)), None);
        assert_eq!(relayed.get(&key(3)), Some(&1));
        assert_eq!(relayed.get(&key(4)), None);
        assert_eq!(relayed.get(&key(5)), Some(&1));
        // With a floor of −135 dBm witness 4's link is judged, and looks flat.
        let lenient = relayed_links(&links, 8, 3, 300_000, 600, -1_350);
        assert_eq!(lenient.get(&key(4)), Some(&1));
        // Fewer than eight observations: nothing judged.
        assert!(relayed_links(&links[..28], 8, 3, 300_000, 600, -1_250).is_empty());
        // Witness 6: a strong real link heard six times at 27 dBm and twice at 24 dBm,
        // one of those two on a duct (+20 dB). Two observations cannot carry a slope.
        let mut lopsided = Vec::new();
        for (i, p) in [270, 270, 240, 270, 270, 240, 270, 270].iter().enumerate() {
            let duct = if i == 5 { 200 } else { 0 };
            lopsided.push(link(1, 6, *p, *p - 900 + fading[i] + duct, -600));
        }
        assert_eq!(
            relayed_links(&lopsided, 8, 3, 300_000, 600, -1_250).get(&key(6)),
            None
        );
        assert_eq!(
            relayed_links(&lopsided, 8, 1, 300_000, 600, -1_250).get(&key(6)),
            Some(&1)
        );
    }

    #[test]
    fn closed_cliques_are_found_and_open_networks_are_not() {
        // 10, 11, 12 witness only each other; 1..=6 form a chain with a leaf.
        let mut links = vec![
            link(10, 11, 270, -900, -600),
            link(11, 12, 270, -900, -600),
            link(12, 10, 270, -900, -600),
        ];
        for i in 1..6 {
            links.push(link(i, i + 1, 270, -900, -600));
        }
        assert_eq!(
            closed_cliques(&links, 8),
            vec![vec![key(10), key(11), key(12)]]
        );
        // Bigger than the size looked for: not listed.
        assert!(closed_cliques(&links, 2).is_empty());
    }

    #[test]
    fn small_samples_need_larger_scores() {
        // F(0.01; 2, 3) = 30.8 and F(0.01; 2, 10) = 7.56, against 4.61 in the limit.
        assert_eq!(small_sample_x100(2), u64::MAX);
        assert_eq!(small_sample_x100(3), 668);
        assert_eq!(small_sample_x100(10), 164);
        assert_eq!(small_sample_x100(11), 164);
        assert_eq!(small_sample_x100(12), 150);
        assert_eq!(small_sample_x100(999), 104);
        assert_eq!(small_sample_x100(1_000), 100);
    }

    #[test]
    fn silent_neighbours_are_counted() {
        let here = Point {
            lat_udeg: 0,
            lng_udeg: 0,
        };
        let near = Point {
            lat_udeg: 9_000, // about 1 km north
            lng_udeg: 0,
        };
        let far = Point {
            lat_udeg: 300_000, // about 33 km
            lng_udeg: 0,
        };
        let locations = BTreeMap::from([
            (key(1), here),
            (key(2), near),
            (key(3), near),
            (key(4), far),
            (key(5), near),
        ]);
        // 1 is heard only by 4, far away; 2 and 3 (near, active: they witness 5) never
        // hear it.
        let links = [
            link(1, 4, 270, -1_100, -800),
            link(5, 2, 270, -900, -600),
            link(5, 3, 270, -900, -600),
        ];
        let beaconers = BTreeSet::from([key(1), key(5), key(4)]);
        let n = near_peers_heard(&links, &beaconers, &locations, 5_000, &BTreeSet::new());
        assert_eq!(n[&key(1)], (0, 2));
        assert_eq!(n[&key(5)], (2, 2));
        // 4 beaconed and nobody heard it at all: its near active peers (none) say nothing.
        assert_eq!(n[&key(4)], (0, 0));
        // A peer caught lying says nothing by its silence.
        let n = near_peers_heard(
            &links,
            &beaconers,
            &locations,
            5_000,
            &BTreeSet::from([key(2)]),
        );
        assert_eq!(n[&key(1)], (0, 1));
        assert_eq!(n[&key(5)], (1, 1));
    }
}
