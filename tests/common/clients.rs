//! The load tool's str0m and FTL clients as the tests use them: on
//! loopback, H.264 Baseline unless said otherwise, the FTL encoder named
//! `waveguide-tests`, and a client that cannot be set up a failed test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ftl::ClientError;
use waveguide::Node;
pub use waveguide_load::ftl_publisher::FtlPublisher;
use waveguide_load::negotiation::OfferedVideo;
pub use waveguide_load::recording_viewer::RecordingViewer;
pub use waveguide_load::whip_publisher::WhipPublisher;

use super::media::MediaPacket;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A viewer of H.264 and Opus and its offer.
pub fn viewer() -> (RecordingViewer, String) {
    RecordingViewer::offer(OfferedVideo::Baseline, LOOPBACK).unwrap()
}

/// A viewer that offers VP8 video only: the server cannot feed it.
pub fn vp8_viewer() -> (RecordingViewer, String) {
    RecordingViewer::offer(OfferedVideo::Vp8Only, LOOPBACK).unwrap()
}

/// A viewer answering a server's offer (the original Waveguide flow).
pub fn answering_viewer(offer: &str) -> RecordingViewer {
    RecordingViewer::answering(offer, LOOPBACK).unwrap()
}

/// A WHIP publisher of H.264 and Opus and its offer. It answers no NACK,
/// so a packet the server loses on the way in fails a byte-for-byte check.
pub fn whip_publisher() -> (WhipPublisher, String) {
    let (publisher, offer) = WhipPublisher::offer(OfferedVideo::Baseline, LOOPBACK).unwrap();
    (publisher.without_retransmission(), offer)
}

/// A WHIP publisher that offers VP8 video only, to be refused.
pub fn vp8_whip_publisher() -> (WhipPublisher, String) {
    let (publisher, offer) = WhipPublisher::offer(OfferedVideo::Vp8Only, LOOPBACK).unwrap();
    (publisher.without_retransmission(), offer)
}

/// An FTL publisher through the handshake with `stream_key` at `ftl`, or
/// the server's refusal (a connection that breaks is a malformed reply).
pub fn ftl_publisher(ftl: SocketAddr, stream_key: &str) -> Result<FtlPublisher, ClientError> {
    FtlPublisher::connect_as(ftl, stream_key, "waveguide-tests")
        .map_err(|error| error.handshake().unwrap_or(ClientError::MalformedReply))
}

/// The first steps of a test's FTL stream.
pub trait FtlSteps {
    /// Sends the clip's first frame (SPS, PPS, IDR), numbered from 0: until
    /// a stream has sent an SPS, viewers are asked to retry. Returns how
    /// many packets it sent.
    fn send_first_frame(&self, clip: &[MediaPacket]) -> usize;

    /// Waits until `node` has read the stream's SPS.
    fn wait_until_watchable(&self, node: &Node);

    /// Sends a video packet of the clip numbered `sequence` (its index in
    /// the clip, as a 16-bit sequence number).
    fn send_clip_packet(&self, sequence: usize, packet: &MediaPacket);
}

impl FtlSteps for FtlPublisher {
    fn send_first_frame(&self, clip: &[MediaPacket]) -> usize {
        let first = clip
            .iter()
            .take_while(|p| p.timestamp == clip[0].timestamp)
            .count();
        for (sequence, packet) in clip.iter().take(first).enumerate() {
            self.send_clip_packet(sequence, packet);
        }
        first
    }

    fn wait_until_watchable(&self, node: &Node) {
        super::wait_until_watchable(node, &self.key().channel.to_string(), || {
            std::thread::sleep(Duration::from_millis(5));
        });
    }

    fn send_clip_packet(&self, sequence: usize, packet: &MediaPacket) {
        self.send_numbered_video(
            sequence as u16,
            packet.timestamp,
            packet.marker,
            &packet.payload,
        )
        .unwrap();
    }
}
