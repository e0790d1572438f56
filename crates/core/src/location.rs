//! Locations as H3 cells.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use h3o::{CellIndex, Resolution};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An H3 cell. Devices assert their location at a fine resolution (12 by default, a cell of
/// about 300 m²); maps aggregate to coarser parents. Encoded as the 64-bit H3 index and
/// shown as its usual hex string (`8c2a1072b59ffff`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location(CellIndex);

/// Why a string or number is not an H3 cell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid H3 cell {input:?}: expected an H3 cell index in hex such as 8c2a1072b59ffff")]
pub struct LocationError {
    input: String,
}

impl Location {
    pub fn from_u64(index: u64) -> Result<Self, LocationError> {
        CellIndex::try_from(index)
            .map(Location)
            .map_err(|_| LocationError {
                input: format!("{index:x}"),
            })
    }

    pub fn as_u64(&self) -> u64 {
        u64::from(self.0)
    }

    /// Resolution 0 (continent-sized) to 15 (about 1 m²).
    pub fn resolution(&self) -> u8 {
        u8::from(self.0.resolution())
    }

    /// The enclosing cell at a coarser resolution, for maps and density caps.
    pub fn parent(&self, resolution: u8) -> Option<Location> {
        let res = Resolution::try_from(resolution).ok()?;
        self.0.parent(res).map(Location)
    }

    /// The cell's centre as (latitude, longitude) in microdegrees (0.11 m). h3o computes the
    /// centre in floating point; this is the one place Cairn lets that in, rounded once, so
    /// everything downstream (distances, radio bounds) is integer maths.
    #[allow(
        clippy::float_arithmetic,
        reason = "the single, rounded entry of h3o's floating-point cell centre"
    )]
    pub fn center_udeg(&self) -> (i64, i64) {
        let ll = h3o::LatLng::from(self.0);
        (
            (ll.lat() * 1e6).round() as i64,
            (ll.lng() * 1e6).round() as i64,
        )
    }

    /// The cell at `resolution` holding a point given in degrees (simulations and tools;
    /// the ledger only ever sees cells).
    pub fn from_degrees(lat: f64, lng: f64, resolution: u8) -> Option<Location> {
        let res = Resolution::try_from(resolution).ok()?;
        let ll = h3o::LatLng::new(lat, lng).ok()?;
        Some(Location(ll.to_cell(res)))
    }

    /// The cells touching this one at its resolution (six; five around a pentagon), in
    /// index order. Grid traversal is integer arithmetic in H3.
    pub fn neighbours(&self) -> Vec<Location> {
        let mut out: Vec<Location> = self
            .0
            .grid_disk::<Vec<CellIndex>>(1)
            .into_iter()
            .filter(|c| *c != self.0)
            .map(Location)
            .collect();
        out.sort();
        out
    }

    /// The finer cell at the centre of this one, e.g. a site's cell at assertion resolution.
    pub fn center_child(&self, resolution: u8) -> Option<Location> {
        let res = Resolution::try_from(resolution).ok()?;
        self.0.center_child(res).map(Location)
    }
}

impl From<CellIndex> for Location {
    fn from(c: CellIndex) -> Self {
        Location(c)
    }
}

impl FromStr for Location {
    type Err = LocationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<CellIndex>()
            .map(Location)
            .map_err(|_| LocationError {
                input: s.chars().take(32).collect(),
            })
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.0)
    }
}

impl BorshSerialize for Location {
    fn serialize<W: std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(&self.as_u64(), w)
    }
}

impl BorshDeserialize for Location {
    fn deserialize_reader<R: std::io::Read>(r: &mut R) -> std::io::Result<Self> {
        let raw = u64::deserialize_reader(r)?;
        Location::from_u64(raw).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_show_encode() {
        let cell = h3o::LatLng::new(48.8566, 2.3522)
            .unwrap()
            .to_cell(Resolution::Twelve);
        let text = cell.to_string();
        let loc: Location = text.parse().unwrap();
        assert_eq!(loc.resolution(), 12);
        assert_eq!(loc.to_string(), text);
        let bytes = borsh::to_vec(&loc).unwrap();
        assert_eq!(borsh::from_slice::<Location>(&bytes).unwrap(), loc);
        assert_eq!(loc.parent(8).unwrap().resolution(), 8);
        assert!("not-a-cell".parse::<Location>().is_err());
        // An arbitrary u64 is not a cell and must not decode.
        assert!(borsh::from_slice::<Location>(&u64::MAX.to_le_bytes()).is_err());
    }
}
