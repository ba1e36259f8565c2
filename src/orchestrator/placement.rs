//! Placement: which node a publisher or a viewer is sent to, from the
//! registry's view. Pure functions of nodes and streams, so every rule is
//! unit-tested without a network.
//!
//! Publishers: to the node already holding the channel (a reconnecting or
//! replacing publisher must reach the live stream), else to the least-loaded
//! node with room, in the publisher's region first.
//!
//! Viewers: to a node that serves the channel and has room, in the viewer's
//! region first; a node in the viewer's region that would relay beats a
//! holder elsewhere (that is what edges are for); if no holder has room, to
//! the least-loaded node with room, which will relay. Ties go to the lower
//! load, then the shorter relay path, then the node id, so that placement is
//! deterministic.

use super::records::{NodeReport, StreamRecord};

/// The node a WHIP publisher of `channel` should publish to.
pub fn for_publisher<'a>(
    channel: &str,
    region: &str,
    nodes: &'a [NodeReport],
    streams: &[StreamRecord],
) -> Option<&'a NodeReport> {
    let live = streams
        .iter()
        .find(|s| s.channel == channel && s.report.origin)
        .and_then(|s| nodes.iter().find(|n| n.id == s.report.node));
    if live.is_some() {
        return live;
    }
    nodes
        .iter()
        .filter(|n| n.has_room())
        .min_by(|a, b| rank(a, region, 0).total_cmp_key(&rank(b, region, 0)))
}

/// The node a WHEP viewer of `channel` should watch on; `None` when the
/// channel is live nowhere or no node has room.
pub fn for_viewer<'a>(
    channel: &str,
    region: &str,
    nodes: &'a [NodeReport],
    streams: &[StreamRecord],
) -> Option<&'a NodeReport> {
    let holders: Vec<&StreamRecord> = streams.iter().filter(|s| s.channel == channel).collect();
    if holders.is_empty() {
        return None;
    }
    let key = |node: &'a NodeReport| {
        let held = holders.iter().find(|s| s.report.node == node.id);
        // A node that would relay ranks after every holder.
        let hops = held.map_or(usize::MAX, |s| s.report.path.len());
        (held.is_none(), rank(node, region, hops))
    };
    nodes.iter().filter(|n| n.has_room()).min_by(|a, b| {
        let (a_relays, a_rank) = key(a);
        let (b_relays, b_rank) = key(b);
        a_rank
            .region_mismatch
            .cmp(&b_rank.region_mismatch)
            .then(a_relays.cmp(&b_relays))
            .then(a_rank.total_cmp_key(&b_rank))
    })
}

/// What placement compares, best first.
struct Rank<'a> {
    region_mismatch: bool,
    load: f64,
    hops: usize,
    id: &'a str,
}

fn rank<'a>(node: &'a NodeReport, region: &str, hops: usize) -> Rank<'a> {
    Rank {
        region_mismatch: !region.is_empty() && node.region != region,
        load: node.load(),
        hops,
        id: &node.id,
    }
}

impl Rank<'_> {
    fn total_cmp_key(&self, other: &Self) -> std::cmp::Ordering {
        self.region_mismatch
            .cmp(&other.region_mismatch)
            .then(self.load.total_cmp(&other.load))
            .then(self.hops.cmp(&other.hops))
            .then(self.id.cmp(other.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::records::samples::{held, node};

    fn id(node: Option<&NodeReport>) -> Option<&str> {
        node.map(|n| n.id.as_str())
    }

    #[test]
    fn publishers_go_to_the_least_loaded_node_of_their_region() {
        let nodes = [
            node("a", "us", 1, 10),
            node("b", "eu", 5, 10),
            node("c", "eu", 2, 10),
        ];
        assert_eq!(id(for_publisher("1", "eu", &nodes, &[])), Some("c"));
        assert_eq!(id(for_publisher("1", "", &nodes, &[])), Some("a"));
        // No node of the region: the least loaded anywhere.
        assert_eq!(id(for_publisher("1", "ap", &nodes, &[])), Some("a"));
        let full = [node("a", "eu", 10, 10)];
        assert_eq!(id(for_publisher("1", "eu", &full, &[])), None);
    }

    #[test]
    fn a_publisher_of_a_live_channel_goes_where_it_is_live() {
        let nodes = [node("a", "us", 9, 10), node("b", "eu", 0, 10)];
        let streams = [held("1", "a", &["a"])];
        assert_eq!(id(for_publisher("1", "eu", &nodes, &streams)), Some("a"));
    }

    #[test]
    fn viewers_go_to_a_holder_with_room_in_their_region() {
        let nodes = [
            node("a", "us", 0, 10),
            node("b", "eu", 3, 10),
            node("c", "eu", 0, 10),
        ];
        let streams = [held("1", "a", &["a"]), held("1", "b", &["a", "b"])];
        // b holds it in eu; c is emptier but would have to relay.
        assert_eq!(id(for_viewer("1", "eu", &nodes, &streams)), Some("b"));
        // Without a region hint the origin is as good and less loaded.
        assert_eq!(id(for_viewer("1", "", &nodes, &streams)), Some("a"));
    }

    #[test]
    fn viewers_of_a_region_without_a_holder_go_to_a_relaying_edge() {
        let nodes = [
            node("a", "us", 0, 10),
            node("b", "eu", 4, 10),
            node("c", "eu", 1, 10),
        ];
        let streams = [held("1", "a", &["a"])];
        assert_eq!(id(for_viewer("1", "eu", &nodes, &streams)), Some("c"));
    }

    #[test]
    fn full_holders_send_viewers_to_a_relaying_node() {
        let nodes = [node("a", "us", 10, 10), node("b", "us", 8, 10)];
        let streams = [held("1", "a", &["a"])];
        assert_eq!(id(for_viewer("1", "us", &nodes, &streams)), Some("b"));
        let all_full = [node("a", "us", 10, 10)];
        assert_eq!(id(for_viewer("1", "us", &all_full, &streams)), None);
    }

    #[test]
    fn a_channel_live_nowhere_has_no_viewer_node() {
        let nodes = [node("a", "us", 0, 10)];
        let streams = [held("2", "a", &["a"])];
        assert_eq!(for_viewer("1", "us", &nodes, &streams), None);
    }
}
