//! EngineHandle: the thread-safe handle the binary drives the engine with.
//! It keeps the stream registry (behind a lock taken to open and close
//! streams and viewers, never per packet) and sends commands to the workers.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use ftl::MediaParams;
use parking_lot::Mutex;

use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::id::PeerId;
use crate::inbox::{
    Command, CoreCommand, FtlMediaRequest, PendingReply, RelayRequest, Reply, reply_channel,
};
use crate::pushed::{FollowerWakers, PushedStream, PushedTrack, StreamLease};
use crate::registry::{Ingest, Live, Source, StreamInfo, StreamRegistry};
use crate::reply::{FtlMedia, OpenedPublisher, OpenedRelay, OpenedViewer};
use crate::ring::{PacketRing, RingWriter, Writers};
use crate::stats::WorkerStats;
use crate::stream::{Stream, TrackKind};
use crate::track_writer::TrackWriter;
use crate::udp::bind_udp;

/// How the handle reaches one worker.
pub(crate) struct WorkerLink {
    pub commands: Sender<Command>,
    pub waker: Arc<mio::Waker>,
    /// Peers on the worker, kept by the worker.
    pub viewers: Arc<AtomicUsize>,
    pub address: SocketAddr,
}

impl WorkerLink {
    pub(crate) fn send(&self, command: Command) -> Result<(), EngineError> {
        self.commands
            .send(command)
            .map_err(|_| EngineError::WorkerUnavailable)?;
        self.waker.wake().map_err(EngineError::Io)
    }
}

/// Ends a stream and stops whatever feeds it.
fn stop(live: &Live, workers: &[WorkerLink]) {
    live.stream.end();
    let _ = match live.source {
        Source::Ftl { worker } => workers[worker].send(Command::Core(CoreCommand::CloseFtlMedia {
            stream_id: live.stream.id(),
        })),
        Source::Whip(peer) | Source::Relay(peer) => workers
            .get(usize::from(peer.worker))
            .map_or(Ok(()), |link| {
                link.send(Command::Core(CoreCommand::ClosePeer { peer }))
            }),
        // Its owner sees the stream ended and stops.
        Source::Pushed(_) => Ok(()),
    };
}

struct Shared {
    config: EngineConfig,
    workers: Vec<WorkerLink>,
    wakers: FollowerWakers,
    registry: Mutex<StreamRegistry>,
    next_stream_id: AtomicU64,
    next_port: AtomicUsize,
    next_ingest_worker: AtomicUsize,
}

/// The thread-safe handle the binary drives the engine with.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

impl EngineHandle {
    pub(crate) fn new(
        config: EngineConfig,
        workers: Vec<WorkerLink>,
        wakers: FollowerWakers,
        registry: StreamRegistry,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                workers,
                wakers,
                registry: Mutex::new(registry),
                next_stream_id: AtomicU64::new(1),
                next_port: AtomicUsize::new(0),
                next_ingest_worker: AtomicUsize::new(0),
            }),
        }
    }

    /// Tells every worker to stop (their peers hear a clean close first).
    pub(crate) fn shut_down_workers(&self) {
        for link in &self.shared.workers {
            let _ = link.send(Command::Core(CoreCommand::Shutdown));
        }
    }

    /// The WebRTC address each worker announces.
    pub fn worker_addresses(&self) -> Vec<SocketAddr> {
        self.shared.workers.iter().map(|w| w.address).collect()
    }

    /// Starts a stream on `channel` fed by an FTL client at `client_ip`
    /// announcing `params`, and returns the media port to give the client.
    /// A live stream on the channel is refused with `ChannelLive`, or, with
    /// `replace`, ended and replaced (FTL's takeover: an encoder that
    /// reconnects after a network blip must not be locked out).
    pub fn open_ftl_media(
        &self,
        channel: &str,
        client_ip: IpAddr,
        params: MediaParams,
        replace: bool,
    ) -> Result<FtlMedia, EngineError> {
        let shared = &*self.shared;
        shared.registry.lock().check_open(channel, replace)?;
        // Bound before the registry lock: a bind may take many tries.
        let socket = self.bind_media_port()?;
        let port = socket.local_addr()?.port();
        let origin = Instant::now();
        let ring = |announced: bool, capacity: usize| {
            announced.then(|| PacketRing::new(capacity, origin)).unzip()
        };
        let (video_writer, video) = ring(params.video.is_some(), shared.config.video_ring_packets);
        let (audio_writer, audio) = ring(params.audio.is_some(), shared.config.audio_ring_packets);
        let stream_id = shared.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let stream = Arc::new(Stream::new(stream_id, channel.to_owned(), video, audio));
        let worker =
            shared.next_ingest_worker.fetch_add(1, Ordering::Relaxed) % shared.workers.len();
        let mut registry = shared.registry.lock();
        if !replace && registry.live(channel).is_some() {
            return Err(EngineError::ChannelLive);
        }
        shared.workers[worker].send(Command::OpenFtlMedia {
            socket,
            media: FtlMediaRequest {
                client_ip,
                params,
                stream: Arc::clone(&stream),
                writers: (video_writer, audio_writer),
            },
        })?;
        let live = Live {
            stream,
            source: Source::Ftl { worker },
        };
        let replaced = registry.insert(channel, live, replace)?;
        drop(registry);
        if let Some(old) = &replaced {
            stop(old, &shared.workers);
        }
        Ok(FtlMedia {
            port,
            stream_id,
            replaced: replaced.map(|old| old.stream.id()),
        })
    }

    /// Starts a stream on `channel` fed from outside the workers (`ingest`
    /// says what feeds it, e.g. RTMP): video and audio rings whose writers
    /// the caller drives from its own threads, and the lease that ends the
    /// stream when dropped. A live stream on the channel is refused with
    /// `ChannelLive`, or, with `replace`, ended and replaced.
    pub fn open_pushed_stream(
        &self,
        channel: &str,
        ingest: Ingest,
        replace: bool,
    ) -> Result<PushedStream, EngineError> {
        let shared = &*self.shared;
        let (stream, (video_writer, audio_writer)) = self.new_stream(channel);
        let replaced = {
            let mut registry = shared.registry.lock();
            registry.check_open(channel, replace)?;
            let live = Live {
                stream: Arc::clone(&stream),
                source: Source::Pushed(ingest),
            };
            registry.insert(channel, live, replace)?
        };
        if let Some(old) = &replaced {
            stop(old, &shared.workers);
        }
        let track = |kind, writer| {
            PushedTrack::new(
                TrackWriter::new(kind, writer),
                Arc::clone(&stream),
                shared.wakers.clone(),
            )
        };
        Ok(PushedStream {
            video: track(TrackKind::Video, video_writer),
            audio: track(TrackKind::Audio, audio_writer),
            lease: StreamLease::new(
                Arc::clone(&stream),
                replaced.map(|old| old.stream.id()),
                self.clone(),
            ),
        })
    }

    /// Ends the FTL stream `stream_id` on `channel`: its socket closes and its
    /// viewers are ended. A stream already replaced is left alone.
    pub fn close_ftl_media(&self, channel: &str, stream_id: u64) {
        self.remove_stream(channel, stream_id);
    }

    /// Opens a WHIP publisher of `channel` answering `offer`, waiting up to
    /// `timeout` for its worker. A live stream on the channel is refused with
    /// `ChannelLive`, or, with `replace`, ended and replaced.
    pub fn open_publisher(
        &self,
        channel: &str,
        offer: String,
        replace: bool,
        timeout: Duration,
    ) -> Result<OpenedPublisher, EngineError> {
        let (id, answer, stream_id, replaced) = self.open_fed_stream(
            channel,
            replace,
            timeout,
            |stream, writers, reply| {
                Command::Core(CoreCommand::OpenPublisher {
                    stream,
                    writers,
                    offer,
                    reply,
                })
            },
            Source::Whip,
        )?;
        Ok(OpenedPublisher {
            id,
            answer,
            stream_id,
            replaced,
        })
    }

    /// Opens a relay of `channel` from another node, waiting up to `timeout`
    /// for its worker: a local stream fed by a receive-only session whose
    /// offer (in the reply) goes to the origin's WHEP endpoint; the origin's
    /// answer goes to [`accept_answer`](Self::accept_answer). Viewers of the
    /// channel get `StreamNotReady` until the first keyframe arrives. A live
    /// stream on the channel is refused with `ChannelLive`.
    pub fn open_relay(&self, channel: &str, timeout: Duration) -> Result<OpenedRelay, EngineError> {
        let (id, offer, stream_id, _) = self.open_fed_stream(
            channel,
            false,
            timeout,
            |stream, writers, reply| {
                Command::OpenRelay(RelayRequest {
                    stream,
                    writers,
                    reply,
                })
            },
            Source::Relay,
        )?;
        Ok(OpenedRelay {
            id,
            offer,
            stream_id,
        })
    }

    /// A new stream on `channel` with video and audio rings, fed by a peer
    /// that `command` opens on the least-loaded worker; registered once the
    /// worker replies. Returns the peer, its SDP, the stream's id and the
    /// stream it replaced. A live stream is refused with `ChannelLive`, or,
    /// with `replace`, ended and replaced.
    fn open_fed_stream(
        &self,
        channel: &str,
        replace: bool,
        timeout: Duration,
        command: impl FnOnce(Arc<Stream>, Writers, Reply<Result<OpenedViewer, EngineError>>) -> Command,
        source: fn(PeerId) -> Source,
    ) -> Result<(PeerId, String, u64, Option<u64>), EngineError> {
        let shared = &*self.shared;
        shared.registry.lock().check_open(channel, replace)?;
        let (stream, (video_writer, audio_writer)) = self.new_stream(channel);
        let stream_id = stream.id();
        let link = self.least_loaded()?;
        let (reply, pending) = reply_channel();
        link.send(command(
            Arc::clone(&stream),
            (Some(video_writer), Some(audio_writer)),
            reply,
        ))?;
        let (id, sdp) = pending.wait(timeout)??;
        let live = Live {
            stream,
            source: source(id),
        };
        let inserted = shared.registry.lock().insert(channel, live, replace);
        let replaced = match inserted {
            Ok(replaced) => replaced,
            Err(error) => {
                // Another publisher (or relay) won the race for the channel.
                let _ = self.close_viewer(id);
                return Err(error);
            }
        };
        if let Some(old) = &replaced {
            stop(old, &shared.workers);
        }
        Ok((id, sdp, stream_id, replaced.map(|old| old.stream.id())))
    }

    /// Ends a WHIP publisher's or a relay's session. Its stream ends at once
    /// (new viewers are refused from now on) and its viewers close.
    pub fn close_publisher(&self, publisher: PeerId) -> Result<(), EngineError> {
        let removed = self.shared.registry.lock().remove_fed_by(publisher);
        match removed {
            Some(live) => {
                stop(&live, &self.shared.workers);
                Ok(())
            }
            None => self.close_viewer(publisher),
        }
    }

    /// The live stream on `channel` (an ended one waiting for removal is not live).
    pub fn stream(&self, channel: &str) -> Option<Arc<Stream>> {
        self.shared.registry.lock().live(channel).map(Arc::clone)
    }

    /// Every live stream.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.shared
            .registry
            .lock()
            .streams()
            .map(Arc::clone)
            .collect()
    }

    /// Every live stream with where it comes from.
    pub fn stream_infos(&self) -> Vec<StreamInfo> {
        self.shared.registry.lock().infos()
    }

    /// Removes `stream_id` from `channel` and stops what feeds it, unless the
    /// channel has moved on to another stream since. The binary calls it when
    /// a stream ends on its own (a WHIP publisher gone, an FTL connection closed).
    pub fn remove_stream(&self, channel: &str, stream_id: u64) {
        let removed = self.shared.registry.lock().remove(channel, stream_id);
        if let Some(live) = removed {
            stop(&live, &self.shared.workers);
        }
    }

    /// Opens a viewer of `channel` on the least-loaded worker. With an
    /// `offer` (standard WHEP) the reply carries our answer; without, it
    /// carries our offer, to be answered with [`accept_answer`](Self::accept_answer).
    pub fn open_viewer(
        &self,
        channel: &str,
        offer: Option<String>,
    ) -> Result<PendingReply<Result<OpenedViewer, EngineError>>, EngineError> {
        // Viewers are offered the stream's own H.264 profile, read from its SPS.
        let stream = self.shared.registry.lock().viewer_room(channel)?;
        let link = self.least_loaded()?;
        let (reply, pending) = reply_channel();
        link.send(Command::Core(CoreCommand::OpenViewer {
            stream,
            offer,
            reply,
        }))?;
        Ok(pending)
    }

    /// Gives a viewer opened without an offer its answer.
    pub fn accept_answer(
        &self,
        viewer: PeerId,
        answer: String,
    ) -> Result<PendingReply<Result<(), EngineError>>, EngineError> {
        let link = self.link(viewer)?;
        let (reply, pending) = reply_channel();
        link.send(Command::Core(CoreCommand::AcceptAnswer {
            viewer,
            answer,
            reply,
        }))?;
        Ok(pending)
    }

    /// Closes a viewer.
    pub fn close_viewer(&self, viewer: PeerId) -> Result<(), EngineError> {
        self.link(viewer)?
            .send(Command::Core(CoreCommand::ClosePeer { peer: viewer }))
    }

    /// Every worker's counters.
    pub fn stats(&self, timeout: Duration) -> Vec<WorkerStats> {
        let pending: Vec<_> = self
            .shared
            .workers
            .iter()
            .filter_map(|link| {
                let (reply, pending) = reply_channel();
                link.send(Command::Core(CoreCommand::Stats { reply }))
                    .ok()
                    .map(|_| pending)
            })
            .collect();
        pending
            .into_iter()
            .filter_map(|p| p.wait(timeout).ok())
            .collect()
    }

    /// A new stream on `channel` with a video and an audio ring, and the
    /// rings' writers.
    fn new_stream(&self, channel: &str) -> (Arc<Stream>, (RingWriter, RingWriter)) {
        let shared = &*self.shared;
        let origin = Instant::now();
        let (video_writer, video) = PacketRing::new(shared.config.video_ring_packets, origin);
        let (audio_writer, audio) = PacketRing::new(shared.config.audio_ring_packets, origin);
        let stream_id = shared.next_stream_id.fetch_add(1, Ordering::Relaxed);
        let stream = Stream::new(stream_id, channel.to_owned(), Some(video), Some(audio));
        (Arc::new(stream), (video_writer, audio_writer))
    }

    /// The worker with the fewest peers, if it has room.
    fn least_loaded(&self) -> Result<&WorkerLink, EngineError> {
        let link = self
            .shared
            .workers
            .iter()
            .min_by_key(|w| w.viewers.load(Ordering::Relaxed))
            .ok_or(EngineError::WorkerUnavailable)?;
        if link.viewers.load(Ordering::Relaxed) >= self.shared.config.max_viewers_per_worker {
            return Err(EngineError::TooManyViewers);
        }
        Ok(link)
    }

    fn link(&self, viewer: PeerId) -> Result<&WorkerLink, EngineError> {
        self.shared
            .workers
            .get(usize::from(viewer.worker))
            .ok_or(EngineError::NoSuchViewer)
    }

    /// Binds the next free port of the FTL media range.
    fn bind_media_port(&self) -> Result<UdpSocket, EngineError> {
        let config = &self.shared.config;
        let (first, last) = (
            *config.ftl_media_ports.start(),
            *config.ftl_media_ports.end(),
        );
        let span = usize::from(last.saturating_sub(first)) + 1;
        for _ in 0..span {
            let offset = self.shared.next_port.fetch_add(1, Ordering::Relaxed) % span;
            let port = first.saturating_add(offset as u16);
            if let Ok(socket) = bind_udp(
                SocketAddr::new(config.ftl_media_bind, port),
                config.socket_buffer_bytes,
            ) {
                return Ok(socket);
            }
        }
        Err(EngineError::NoFreePort)
    }
}
