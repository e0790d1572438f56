//! Which devices ingest accepts: onboarded and not denylisted, as the ledger says.

use cairn_core::PublicKey;
use cairn_ledger::State;
use cairn_ledger::tx::{DenyTarget, DeviceKind};

/// A device's standing, as far as ingest is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Not onboarded on this network.
    Unknown,
    /// Onboarded, but an active denylist entry names it.
    Denylisted {
        entry: u64,
        reason: u16,
        expires_at: u64,
    },
    Active {
        kind: DeviceKind,
    },
}

/// The device registry ingest consults on every handshake and submission.
pub trait DeviceRegistry: Send + Sync + 'static {
    fn status(&self, device: &PublicKey) -> DeviceStatus;
}

impl<F> DeviceRegistry for F
where
    F: Fn(&PublicKey) -> DeviceStatus + Send + Sync + 'static,
{
    fn status(&self, device: &PublicKey) -> DeviceStatus {
        self(device)
    }
}

/// A device's status in a ledger state: unknown, denylisted by an entry that still
/// withholds at the state's height (pair entries do not stop a device reporting), or active.
pub fn ledger_status(state: &State, device: &PublicKey) -> DeviceStatus {
    let Some(record) = state.devices.get(device) else {
        return DeviceStatus::Unknown;
    };
    let lo = (*device, 0u64);
    let hi = (*device, u64::MAX);
    for (_, id) in state.denylist_by_device.range(lo..=hi) {
        if let Some(d) = state.denylist.get(id)
            && matches!(d.entry.target, DenyTarget::Device(_))
            && d.withholds(state.height)
        {
            return DeviceStatus::Denylisted {
                entry: *id,
                reason: d.entry.reason,
                expires_at: d.entry.expires_at.0,
            };
        }
    }
    DeviceStatus::Active { kind: record.kind }
}
