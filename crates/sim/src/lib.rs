//! Cairn's simulator: simulated device drivers that plug into the real agent, so a whole
//! network of devices can run on one machine. The physics is simulated (floating point
//! is allowed here, and only here); the agent, ingest and the verifiers are real.
//!
//! - [`drivers`]: one simulated driver per resource kind and [`driver_from_config`];
//! - [`live`]: the world running agents' drivers share — the air radios hear each other
//!   through and the weather stations measure;
//! - [`coverage_sim`]: honest radios and every coverage cheat class against the real rules
//!   and detectors;
//! - [`sensor_sim`]: honest weather stations and every sensor cheat class against the real
//!   per-station, cross-station and identity checks;
//! - [`network`]: the whole network at scale — every kind, every cheat class, the real
//!   verifiers and rewarder — what `cairn sim` runs;
//! - [`quality`]: the verification quality table every simulation prints;
//! - [`world`]: the physics — radio propagation and the weather field, seeded;
//! - [`proofs`]: honest and dishonest storage and compute providers against the real
//!   challenges and epoch verifier, with per-class detection figures.

pub mod coverage_sim;
pub mod drivers;
pub mod live;
pub mod network;
pub mod proofs;
pub mod quality;
pub mod sensor_sim;
pub mod world;

pub use drivers::{
    SimCompute, SimError, SimRadio, SimRng, SimSensor, SimStorage, driver_from_config,
};
pub use live::SimWorld;
