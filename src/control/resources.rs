//! Resources: the WHIP and WHEP sessions' resource ids (128 random bits
//! each, so they cannot be guessed), the peers behind them, and the
//! `Location` a new one is announced at.

use std::collections::HashMap;

use engine::PeerId;
use parking_lot::Mutex;

/// Which route family a resource id belongs to: a WHEP id is no WHIP id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// `/whep/resource/{id}`: a viewer.
    Whep,
    /// `/whip/resource/{id}`: a publisher.
    Whip,
}

impl ResourceKind {
    /// The route family's first path segment.
    fn path(self) -> &'static str {
        match self {
            Self::Whep => "whep",
            Self::Whip => "whip",
        }
    }
}

/// Every resource of this node, by id and by peer.
pub struct Resources {
    /// The node's public base URL when `Location`s must be absolute.
    base_url: Option<String>,
    ids: Mutex<Ids>,
}

#[derive(Default)]
struct Ids {
    by_id: HashMap<(ResourceKind, String), PeerId>,
    by_peer: HashMap<PeerId, (ResourceKind, String)>,
}

impl Resources {
    /// No resources yet. With `base_url` (a node in a cluster) a
    /// `Location` is absolute, because WHIP and WHEP clients sent here by
    /// an orchestrator's redirect resolve a relative one differently
    /// (GStreamer against the URL it was configured with, OBS by replacing
    /// the path of the redirected one); without, it is relative.
    pub fn new(base_url: Option<String>) -> Self {
        Self {
            base_url,
            ids: Mutex::new(Ids::default()),
        }
    }

    /// Registers a peer under a new unguessable resource id (128 random bits).
    pub fn add(&self, kind: ResourceKind, peer: PeerId) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut ids = self.ids.lock();
        ids.by_id.insert((kind, id.clone()), peer);
        ids.by_peer.insert(peer, (kind, id.clone()));
        Some(id)
    }

    /// The `Location` of a new resource.
    pub fn location(&self, kind: ResourceKind, id: &str) -> String {
        let path = format!("/{}/resource/{id}", kind.path());
        match &self.base_url {
            Some(base) => format!("{base}{path}"),
            None => path,
        }
    }

    /// The peer behind a resource id.
    pub fn get(&self, kind: ResourceKind, id: &str) -> Option<PeerId> {
        self.ids.lock().by_id.get(&(kind, id.to_owned())).copied()
    }

    /// Forgets a resource; returns its peer.
    pub fn remove(&self, kind: ResourceKind, id: &str) -> Option<PeerId> {
        let mut ids = self.ids.lock();
        let peer = ids.by_id.remove(&(kind, id.to_owned()))?;
        ids.by_peer.remove(&peer);
        Some(peer)
    }

    /// Forgets the resource of a peer that closed.
    pub fn forget_peer(&self, peer: PeerId) {
        let mut ids = self.ids.lock();
        if let Some(key) = ids.by_peer.remove(&peer) {
            ids.by_id.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_relative_alone_and_absolute_in_a_cluster() {
        let alone = Resources::new(None);
        assert_eq!(
            alone.location(ResourceKind::Whep, "ab"),
            "/whep/resource/ab"
        );
        let member = Resources::new(Some("https://edge.example:8443".into()));
        assert_eq!(
            member.location(ResourceKind::Whip, "ab"),
            "https://edge.example:8443/whip/resource/ab"
        );
    }
}
