//! EngineConfig: how the engine runs (workers, ports, ring sizes, limits,
//! timeouts), each field with a default that makes a useful single node.

use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::time::Duration;

/// How the engine runs. Every field has a default that makes a useful
/// single node on one machine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads; one per core by default.
    pub workers: usize,
    /// Address the WebRTC sockets bind to.
    pub webrtc_bind: IpAddr,
    /// Worker k's WebRTC port is this plus k; 0 picks free ports (tests).
    pub webrtc_port_base: u16,
    /// The IP announced in ICE candidates (must be reachable by viewers).
    pub public_ip: IpAddr,
    /// Ports handed to FTL streams for media; `0..=0` picks free ports.
    pub ftl_media_ports: RangeInclusive<u16>,
    /// Address FTL media sockets bind to.
    pub ftl_media_bind: IpAddr,
    /// Packets held per video ring (about 4 s of a 6 Mbps stream).
    pub video_ring_packets: usize,
    /// Packets held per audio ring.
    pub audio_ring_packets: usize,
    /// Most viewers on one worker.
    pub max_viewers_per_worker: usize,
    /// Most live streams.
    pub max_streams: usize,
    /// Most viewers of one stream.
    pub max_viewers_per_stream: usize,
    /// Most viewers of all streams together.
    pub max_viewers_total: usize,
    /// A viewer that has not connected (ICE + DTLS) by then is dropped.
    pub viewer_connect_timeout: Duration,
    /// An FTL stream with no datagram for this long is reported as timed out.
    pub ftl_media_timeout: Duration,
    /// SO_RCVBUF and SO_SNDBUF of every socket, in bytes.
    pub socket_buffer_bytes: usize,
    /// A relay whose stream has had no local viewer this long closes.
    pub relay_idle_grace: Duration,
    /// Also offer a passive ICE-TCP candidate (RFC 6544) on each worker's
    /// port number, for peers whose networks block UDP.
    pub ice_tcp: bool,
    /// More interfaces to serve WebRTC on: each worker binds one more UDP
    /// socket per interface (same port number) and every peer is offered
    /// one more candidate, so a host behind 1:1 NAT with several public IPs
    /// (or with IPv4 and IPv6) is reachable on each.
    pub extra_interfaces: Vec<WebRtcInterface>,
}

/// One more address to serve WebRTC on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebRtcInterface {
    /// The local address its sockets bind to.
    pub bind: IpAddr,
    /// The IP announced for it (behind 1:1 NAT, the public one).
    pub public_ip: IpAddr,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            webrtc_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            webrtc_port_base: 8200,
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ftl_media_ports: 9000..=9999,
            ftl_media_bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            video_ring_packets: 4096,
            audio_ring_packets: 512,
            max_viewers_per_worker: 10_000,
            max_streams: 1_000,
            max_viewers_per_stream: 100_000,
            max_viewers_total: 100_000,
            viewer_connect_timeout: Duration::from_secs(15),
            ftl_media_timeout: Duration::from_secs(10),
            socket_buffer_bytes: 4 << 20,
            relay_idle_grace: Duration::from_secs(10),
            ice_tcp: true,
            extra_interfaces: Vec::new(),
        }
    }
}
