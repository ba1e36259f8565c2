//! StreamRegistry: channel → live stream, with where each comes from, and
//! the rules for opening on a channel: a live channel is refused or taken
//! over, and the stream and viewer limits. Plain data: the handle keeps it
//! behind a lock and stops what a takeover or removal hands back.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::EngineError;
use crate::id::PeerId;
use crate::stream::{Stream, TrackKind};

/// Where a stream comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingest {
    /// An FTL encoder.
    Ftl,
    /// A WHIP publisher.
    Whip,
    /// A relay from another node.
    Relay,
    /// An RTMP publisher (fed from outside the workers).
    Rtmp,
}

impl Ingest {
    /// `ftl`, `whip`, `relay` or `rtmp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ftl => "ftl",
            Self::Whip => "whip",
            Self::Relay => "relay",
            Self::Rtmp => "rtmp",
        }
    }
}

/// A live stream as the API shows it.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The stream.
    pub stream: Arc<Stream>,
    /// Where it comes from.
    pub ingest: Ingest,
    /// The worker its ingest (FTL socket, WHIP peer or relay) lives on;
    /// none for a stream pushed from outside the workers (RTMP).
    pub ingest_worker: Option<usize>,
}

/// What feeds a live stream, so a takeover or a removal can stop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// An FTL media socket on this worker.
    Ftl { worker: usize },
    /// A WHIP publisher.
    Whip(PeerId),
    /// A relay from another node.
    Relay(PeerId),
    /// Pushed from outside the workers (see `pushed.rs`); its owner stops
    /// when it sees the stream ended.
    Pushed(Ingest),
}

/// A registered stream and what feeds it.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    pub stream: Arc<Stream>,
    pub source: Source,
}

/// The registry's limits (from the engine's configuration).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_streams: usize,
    pub max_viewers_per_stream: usize,
    pub max_viewers_total: usize,
}

/// Every channel's stream; an ended one stays until it is removed or
/// replaced, but no longer counts as live.
#[derive(Debug)]
pub(crate) struct StreamRegistry {
    streams: HashMap<String, Live>,
    limits: Limits,
}

impl StreamRegistry {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            streams: HashMap::new(),
            limits,
        }
    }

    /// The live stream on `channel`.
    pub(crate) fn live(&self, channel: &str) -> Option<&Arc<Stream>> {
        self.streams
            .get(channel)
            .filter(|live| !live.stream.is_ended())
            .map(|live| &live.stream)
    }

    /// Every live stream.
    pub(crate) fn streams(&self) -> impl Iterator<Item = &Arc<Stream>> {
        self.streams
            .values()
            .filter(|live| !live.stream.is_ended())
            .map(|live| &live.stream)
    }

    /// Every live stream with where it comes from.
    pub(crate) fn infos(&self) -> Vec<StreamInfo> {
        self.streams
            .values()
            .filter(|live| !live.stream.is_ended())
            .map(|live| {
                let (ingest, ingest_worker) = match live.source {
                    Source::Ftl { worker } => (Ingest::Ftl, Some(worker)),
                    Source::Whip(peer) => (Ingest::Whip, Some(usize::from(peer.worker))),
                    Source::Relay(peer) => (Ingest::Relay, Some(usize::from(peer.worker))),
                    Source::Pushed(ingest) => (ingest, None),
                };
                StreamInfo {
                    stream: Arc::clone(&live.stream),
                    ingest,
                    ingest_worker,
                }
            })
            .collect()
    }

    /// Whether a new stream may start on `channel`: a live one there is
    /// refused with `ChannelLive` unless it is to be replaced, and one more
    /// stream must fit the limit (a stream replacing `channel`'s own does).
    pub(crate) fn check_open(&self, channel: &str, replace: bool) -> Result<(), EngineError> {
        if !replace && self.live(channel).is_some() {
            return Err(EngineError::ChannelLive);
        }
        let others = self.streams().filter(|s| s.channel() != channel).count();
        if others >= self.limits.max_streams {
            return Err(EngineError::TooManyStreams);
        }
        Ok(())
    }

    /// Registers `live` on `channel`, unless another stream took the channel
    /// since [`check_open`](Self::check_open) and it is not to be replaced.
    /// Returns the stream it replaced, for the caller to stop.
    pub(crate) fn insert(
        &mut self,
        channel: &str,
        live: Live,
        replace: bool,
    ) -> Result<Option<Live>, EngineError> {
        if !replace && self.live(channel).is_some() {
            return Err(EngineError::ChannelLive);
        }
        Ok(self.streams.insert(channel.to_owned(), live))
    }

    /// Removes the stream a WHIP publisher or relay feeds.
    pub(crate) fn remove_fed_by(&mut self, publisher: PeerId) -> Option<Live> {
        let channel = self
            .streams
            .iter()
            .find(|(_, live)| {
                matches!(live.source, Source::Whip(id) | Source::Relay(id) if id == publisher)
            })
            .map(|(channel, _)| channel.clone())?;
        self.streams.remove(&channel)
    }

    /// Removes `stream_id` from `channel`, unless the channel has moved on
    /// to another stream since.
    pub(crate) fn remove(&mut self, channel: &str, stream_id: u64) -> Option<Live> {
        if self
            .streams
            .get(channel)
            .is_some_and(|live| live.stream.id() == stream_id)
        {
            return self.streams.remove(channel);
        }
        None
    }

    /// The stream a new viewer of `channel` would watch, if the viewer
    /// limits (per stream and in total) leave room and the stream can be
    /// offered (it has sent its SPS, so its H.264 profile is known).
    pub(crate) fn viewer_room(&self, channel: &str) -> Result<Arc<Stream>, EngineError> {
        let stream = self.live(channel).ok_or(EngineError::NoSuchStream)?;
        let total: usize = self.streams().map(|s| s.viewers()).sum();
        if stream.viewers() >= self.limits.max_viewers_per_stream
            || total >= self.limits.max_viewers_total
        {
            return Err(EngineError::TooManyViewers);
        }
        if stream.ring(TrackKind::Video).is_some() && stream.sps().is_none() {
            return Err(EngineError::StreamNotReady);
        }
        Ok(Arc::clone(stream))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use codec::h264::Sps;

    use super::*;
    use crate::id::Slot;
    use crate::ring::PacketRing;

    const LIMITS: Limits = Limits {
        max_streams: 2,
        max_viewers_per_stream: 2,
        max_viewers_total: 3,
    };

    fn stream(id: u64, channel: &str) -> Arc<Stream> {
        let (_, video) = PacketRing::new(8, Instant::now());
        let stream = Stream::new(id, channel.into(), Some(video), None);
        stream.set_sps(Sps {
            profile_idc: 0x42,
            constraint_flags: 0xe0,
            level_idc: 0x1f,
            width: 1280,
            height: 720,
        });
        Arc::new(stream)
    }

    fn whip(index: u32) -> Source {
        Source::Whip(PeerId {
            worker: 0,
            slot: Slot {
                index,
                generation: 0,
            },
        })
    }

    fn open(
        registry: &mut StreamRegistry,
        id: u64,
        channel: &str,
        replace: bool,
    ) -> Result<Option<Live>, EngineError> {
        registry.check_open(channel, replace)?;
        let live = Live {
            stream: stream(id, channel),
            source: Source::Ftl { worker: 0 },
        };
        registry.insert(channel, live, replace)
    }

    #[test]
    fn a_live_channel_is_refused_unless_taken_over() {
        let mut registry = StreamRegistry::new(LIMITS);
        assert!(open(&mut registry, 1, "a", false).unwrap().is_none());
        assert!(matches!(
            open(&mut registry, 2, "a", false),
            Err(EngineError::ChannelLive)
        ));
        let replaced = open(&mut registry, 3, "a", true).unwrap().unwrap();
        assert_eq!(
            replaced.stream.id(),
            1,
            "the takeover hands back the old stream to stop"
        );
        assert_eq!(registry.live("a").map(|s| s.id()), Some(3));
    }

    #[test]
    fn a_channel_won_between_check_and_insert_is_refused() {
        let mut registry = StreamRegistry::new(LIMITS);
        registry.check_open("a", false).unwrap();
        open(&mut registry, 1, "a", false).unwrap();
        let late = Live {
            stream: stream(2, "a"),
            source: whip(1),
        };
        assert!(matches!(
            registry.insert("a", late, false),
            Err(EngineError::ChannelLive)
        ));
    }

    #[test]
    fn an_ended_stream_no_longer_holds_its_channel() {
        let mut registry = StreamRegistry::new(LIMITS);
        open(&mut registry, 1, "a", false).unwrap();
        registry.live("a").unwrap().end();
        assert!(registry.live("a").is_none());
        let replaced = open(&mut registry, 2, "a", false).unwrap();
        assert_eq!(replaced.map(|old| old.stream.id()), Some(1));
    }

    #[test]
    fn the_stream_limit_counts_other_channels_only() {
        let mut registry = StreamRegistry::new(LIMITS);
        open(&mut registry, 1, "a", false).unwrap();
        open(&mut registry, 2, "b", false).unwrap();
        assert!(matches!(
            open(&mut registry, 3, "c", false),
            Err(EngineError::TooManyStreams)
        ));
        assert!(open(&mut registry, 4, "a", true).is_ok(), "a takeover fits");
        registry.live("b").unwrap().end();
        assert!(
            open(&mut registry, 5, "c", false).is_ok(),
            "an ended stream frees room"
        );
    }

    #[test]
    fn removal_leaves_a_channel_that_moved_on() {
        let mut registry = StreamRegistry::new(LIMITS);
        open(&mut registry, 1, "a", false).unwrap();
        open(&mut registry, 2, "a", true).unwrap();
        assert!(registry.remove("a", 1).is_none());
        assert_eq!(
            registry.remove("a", 2).map(|live| live.stream.id()),
            Some(2)
        );
        assert!(registry.live("a").is_none());
    }

    #[test]
    fn a_publisher_removes_the_stream_it_feeds() {
        let mut registry = StreamRegistry::new(LIMITS);
        let live = Live {
            stream: stream(1, "a"),
            source: whip(7),
        };
        registry.insert("a", live, false).unwrap();
        let Source::Whip(publisher) = whip(7) else {
            unreachable!()
        };
        let Source::Whip(other) = whip(8) else {
            unreachable!()
        };
        assert!(registry.remove_fed_by(other).is_none());
        assert_eq!(
            registry
                .remove_fed_by(publisher)
                .map(|live| live.stream.id()),
            Some(1)
        );
    }

    #[test]
    fn viewer_limits_per_stream_and_in_total() {
        let mut registry = StreamRegistry::new(LIMITS);
        open(&mut registry, 1, "a", false).unwrap();
        open(&mut registry, 2, "b", false).unwrap();
        let a = registry.viewer_room("a").unwrap();
        a.count_viewer(true);
        a.count_viewer(true);
        assert!(matches!(
            registry.viewer_room("a"),
            Err(EngineError::TooManyViewers)
        ));
        let b = registry.viewer_room("b").unwrap();
        b.count_viewer(true);
        assert!(
            matches!(registry.viewer_room("b"), Err(EngineError::TooManyViewers)),
            "three viewers in total"
        );
        a.count_viewer(false);
        assert!(registry.viewer_room("b").is_ok());
        assert!(matches!(
            registry.viewer_room("c"),
            Err(EngineError::NoSuchStream)
        ));
    }

    #[test]
    fn a_stream_without_its_sps_is_not_ready_for_viewers() {
        let mut registry = StreamRegistry::new(LIMITS);
        let (_, video) = PacketRing::new(8, Instant::now());
        let live = Live {
            stream: Arc::new(Stream::new(1, "a".into(), Some(video), None)),
            source: whip(1),
        };
        registry.insert("a", live, false).unwrap();
        assert!(matches!(
            registry.viewer_room("a"),
            Err(EngineError::StreamNotReady)
        ));
    }
}
