//! Demux: which viewer a datagram on the shared WebRTC socket belongs to.
//! By source address first; a STUN binding request from an unknown address
//! is routed by our local ICE ufrag, which encodes the viewer's slot, and
//! its source is remembered only once that viewer's `Rtc` accepts it. Never
//! a scan over every viewer (STYLE.md, "Things to avoid").
//!
//! Security hardening: entries are created only for sources whose STUN
//! passed the viewer's message-integrity check, each viewer keeps at most
//! [`MAX_ADDRESSES_PER_VIEWER`], and the map never holds more than
//! [`MAX_ENTRIES`] in total.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::id::Slot;

/// Most remote addresses remembered for one viewer (ICE may try several).
pub const MAX_ADDRESSES_PER_VIEWER: usize = 8;

/// Most addresses remembered on one worker.
pub const MAX_ENTRIES: usize = 65_536;

/// Our local ufrag from a STUN message, if the datagram is one.
pub fn stun_local_ufrag(datagram: &[u8]) -> Option<Slot> {
    // STUN starts with 0b00 and is at least a 20-byte header (RFC 5389 §6).
    if datagram.len() < 20 || datagram[0] > 1 {
        return None;
    }
    let message = str0m::ice::StunMessage::parse(datagram).ok()?;
    let (local, _remote) = message.split_username()?;
    Slot::from_ufrag(local)
}

/// Source address → viewer slot, bounded.
#[derive(Debug, Default)]
pub struct Demux {
    by_address: HashMap<SocketAddr, Slot>,
}

impl Demux {
    /// The viewer a known source belongs to.
    pub fn lookup(&self, source: SocketAddr) -> Option<Slot> {
        self.by_address.get(&source).copied()
    }

    /// Remembers `source` for `slot`, if the limits allow. `addresses` is the
    /// viewer's own list, kept so its entries can be removed when it closes.
    pub fn insert(
        &mut self,
        source: SocketAddr,
        slot: Slot,
        addresses: &mut Vec<SocketAddr>,
    ) -> bool {
        if addresses.len() >= MAX_ADDRESSES_PER_VIEWER || self.by_address.len() >= MAX_ENTRIES {
            return false;
        }
        if self.by_address.insert(source, slot).is_none() {
            addresses.push(source);
        }
        true
    }

    /// Forgets a closed viewer's addresses, leaving any another viewer
    /// has taken over since.
    pub fn remove(&mut self, slot: Slot, addresses: &[SocketAddr]) {
        for address in addresses {
            if self.by_address.get(address) == Some(&slot) {
                self.by_address.remove(address);
            }
        }
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    /// Whether no entry is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_stun_is_not_routed_by_ufrag() {
        assert_eq!(stun_local_ufrag(&[0x80; 100]), None);
        assert_eq!(stun_local_ufrag(&[0x16; 100]), None);
        assert_eq!(stun_local_ufrag(&[0x00; 19]), None);
        assert_eq!(stun_local_ufrag(&[0x00; 40]), None);
    }

    #[test]
    fn addresses_per_viewer_are_capped() {
        let mut demux = Demux::default();
        let slot = Slot {
            index: 1,
            generation: 0,
        };
        let mut addresses = Vec::new();
        for port in 0..MAX_ADDRESSES_PER_VIEWER as u16 {
            assert!(demux.insert(
                SocketAddr::from(([127, 0, 0, 1], 1000 + port)),
                slot,
                &mut addresses
            ));
        }
        assert!(!demux.insert(
            SocketAddr::from(([127, 0, 0, 1], 2000)),
            slot,
            &mut addresses
        ));
        assert_eq!(demux.len(), MAX_ADDRESSES_PER_VIEWER);
        demux.remove(slot, &addresses);
        assert!(demux.is_empty());
    }
}
