//! Ids: a peer's place on its worker ([`Slot`]: index and generation, also
//! spelled as its local ICE ufrag), its identity in the engine ([`PeerId`]),
//! and a socket's number on its worker ([`SocketId`]).

use std::fmt;

/// A peer's place on its worker: slot index and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Slot {
    /// Index into the worker's peer table.
    pub index: u32,
    /// Bumped each time the index is reused, so stale references miss.
    pub generation: u32,
}

impl Slot {
    /// The local ICE ufrag for this slot: `wg`, then index and generation in
    /// hex (ICE chars only, at least 4 of them).
    pub(crate) fn ufrag(self) -> String {
        format!("wg{:x}g{:x}", self.index, self.generation)
    }

    /// The slot a ufrag names, if it is one of ours.
    pub(crate) fn from_ufrag(ufrag: &str) -> Option<Self> {
        let (index, generation) = ufrag.strip_prefix("wg")?.split_once('g')?;
        Some(Self {
            index: u32::from_str_radix(index, 16).ok()?,
            generation: u32::from_str_radix(generation, 16).ok()?,
        })
    }
}

/// A peer's (viewer's or publisher's) identity inside the engine: its
/// worker and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId {
    /// The worker that owns it.
    pub worker: u16,
    /// Its slot on that worker.
    pub slot: Slot,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "w{}-{}-{}",
            self.worker, self.slot.index, self.slot.generation
        )
    }
}

/// A socket's number on its worker (its poll token there). The worker owns
/// the sockets; the core knows them only by these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufrag_round_trip() {
        for slot in [
            Slot {
                index: 0,
                generation: 0,
            },
            Slot {
                index: 0xdead,
                generation: 7,
            },
            Slot {
                index: u32::MAX,
                generation: u32::MAX,
            },
        ] {
            let ufrag = slot.ufrag();
            assert!(ufrag.len() >= 4 && ufrag.chars().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(Slot::from_ufrag(&ufrag), Some(slot));
        }
        for bad in ["", "wg", "wgxg1", "wg1", "ab1g2", "wg1g", "wg1gzz"] {
            assert_eq!(Slot::from_ufrag(bad), None, "{bad}");
        }
    }
}
