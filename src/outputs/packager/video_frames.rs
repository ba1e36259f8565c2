//! VideoFrames: RTP payloads in sequence order to whole H.264 access units
//! (AVCC, 4-byte lengths), with the stream's SPS and PPS kept aside for the
//! initialization segment. After any loss, frames are dropped until the
//! next keyframe: a damaged picture is never written.

use std::time::Instant;

use codec::h264::depacketizer::{DepacketizeError, Depacketizer};
use engine::RingPacket;

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;

/// The largest access unit assembled: a publisher that never ends a frame
/// (no marker bit, one timestamp) cannot make it grow past this.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// One access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Its RTP timestamp (90 kHz).
    pub timestamp: u32,
    /// When its first packet arrived at ingest.
    pub arrival: Instant,
    /// Whether it holds an IDR picture.
    pub keyframe: bool,
    /// Its NAL units but parameter sets, delimiters and filler, each after
    /// a 4-byte big-endian length.
    pub data: Vec<u8>,
    /// Whether frames were lost before it (it is then a keyframe).
    pub after_loss: bool,
    /// A keyframe's SPS and PPS (the newest seen).
    pub parameter_sets: Option<ParameterSets>,
}

/// The stream's newest SPS and PPS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterSets {
    /// The sequence parameter set NAL unit.
    pub sps: Vec<u8>,
    /// The picture parameter set NAL unit.
    pub pps: Vec<u8>,
}

#[derive(Debug)]
struct OpenFrame {
    timestamp: u32,
    arrival: Instant,
    keyframe: bool,
    data: Vec<u8>,
    broken: bool,
}

/// Assembles one video track's access units.
#[derive(Debug)]
pub struct VideoFrames {
    depacketizer: Depacketizer,
    open: Option<OpenFrame>,
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// Frames are dropped until a keyframe (at the start and after loss).
    waiting_for_keyframe: bool,
    /// Something was lost since the last frame that came out.
    lost: bool,
    /// Frames dropped because they were damaged or had no keyframe before.
    pub dropped: u64,
}

impl Default for VideoFrames {
    fn default() -> Self {
        Self {
            depacketizer: Depacketizer::default(),
            open: None,
            sps: None,
            pps: None,
            waiting_for_keyframe: true,
            lost: false,
            dropped: 0,
        }
    }
}

impl VideoFrames {
    /// The SPS and PPS seen last, once both were.
    pub fn parameter_sets(&self) -> Option<ParameterSets> {
        Some(ParameterSets {
            sps: self.sps.clone()?,
            pps: self.pps.clone()?,
        })
    }

    /// Takes the next packet in sequence order; a finished access unit
    /// comes out through `emit`.
    pub fn push(&mut self, packet: &RingPacket, mut emit: impl FnMut(VideoFrame)) {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.timestamp != packet.timestamp)
        {
            self.finish(&mut emit);
        }
        let open = self.open.get_or_insert_with(|| OpenFrame {
            timestamp: packet.timestamp,
            arrival: packet.arrival,
            keyframe: false,
            data: Vec::new(),
            broken: false,
        });
        let (sps, pps) = (&mut self.sps, &mut self.pps);
        let result = self
            .depacketizer
            .push(packet.sequence, &packet.payload, |nal| {
                let Some(&header) = nal.first() else { return };
                match header & 0x1f {
                    NAL_SPS => *sps = Some(nal.to_vec()),
                    NAL_PPS => *pps = Some(nal.to_vec()),
                    NAL_AUD | NAL_FILLER => {}
                    _ if open.data.len().saturating_add(nal.len()) > MAX_FRAME_BYTES => {
                        open.broken = true;
                        open.data = Vec::new();
                    }
                    kind => {
                        open.keyframe |= kind == NAL_IDR;
                        let length = u32::try_from(nal.len()).unwrap_or(u32::MAX);
                        open.data.extend_from_slice(&length.to_be_bytes());
                        open.data.extend_from_slice(nal);
                    }
                }
            });
        match result {
            Ok(()) | Err(DepacketizeError::Stale { .. }) => {}
            Err(_) => open.broken = true,
        }
        if packet.marker {
            self.finish(&mut emit);
        }
    }

    /// Packets were lost here (a hole given up on, or the ring lapped the
    /// reader): the open access unit is dropped, and the next packet is
    /// read afresh, so a whole keyframe after the hole still comes out.
    pub fn gap(&mut self) {
        if self.open.take().is_some() {
            self.dropped += 1;
        }
        self.depacketizer = Depacketizer::default();
        self.lost = true;
        self.waiting_for_keyframe = true;
    }

    /// Ends the open access unit (the stream ended).
    pub fn flush(&mut self, emit: impl FnMut(VideoFrame)) {
        self.finish(emit);
    }

    fn finish(&mut self, mut emit: impl FnMut(VideoFrame)) {
        let Some(open) = self.open.take() else { return };
        if open.broken {
            self.dropped += 1;
            self.lost = true;
            self.waiting_for_keyframe = true;
            return;
        }
        if open.data.is_empty() {
            return;
        }
        let ready = open.keyframe && self.sps.is_some() && self.pps.is_some();
        if self.waiting_for_keyframe && !ready {
            self.dropped += 1;
            return;
        }
        self.waiting_for_keyframe = false;
        let parameter_sets = if open.keyframe {
            self.parameter_sets()
        } else {
            None
        };
        emit(VideoFrame {
            timestamp: open.timestamp,
            arrival: open.arrival,
            keyframe: open.keyframe,
            data: open.data,
            after_loss: std::mem::take(&mut self.lost),
            parameter_sets,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RingPacket {
        RingPacket {
            sequence,
            timestamp,
            marker,
            keyframe: false,
            arrival: Instant::now(),
            payload: Arc::from(payload),
        }
    }

    fn run(frames: &mut VideoFrames, packets: &[RingPacket]) -> Vec<VideoFrame> {
        let mut out = Vec::new();
        for packet in packets {
            frames.push(packet, |frame| out.push(frame));
        }
        out
    }

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1e];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    #[test]
    fn assembles_keyframe_and_delta_frames_from_fu_a_and_single_nal_units() {
        let mut frames = VideoFrames::default();
        let out = run(
            &mut frames,
            &[
                packet(1, 0, false, SPS),
                packet(2, 0, false, PPS),
                packet(3, 0, false, &[0x7c, 0x85, 1, 2]),
                packet(4, 0, true, &[0x7c, 0x45, 3]),
                packet(5, 3000, true, &[0x41, 9, 9]),
            ],
        );
        assert_eq!(out.len(), 2);
        assert!(out[0].keyframe && !out[1].keyframe);
        assert_eq!(out[0].data, [0, 0, 0, 4, 0x65, 1, 2, 3]);
        assert_eq!(out[1].data, [0, 0, 0, 3, 0x41, 9, 9]);
        assert_eq!(out[1].timestamp, 3000);
        let sets = out[0].parameter_sets.clone().unwrap();
        assert_eq!((sets.sps.as_slice(), sets.pps.as_slice()), (SPS, PPS));
        assert_eq!(out[1].parameter_sets, None);
    }

    #[test]
    fn waits_for_a_keyframe_at_the_start_and_after_loss() {
        let mut frames = VideoFrames::default();
        let mut packets = vec![packet(1, 0, true, &[0x41, 1])];
        packets.extend([
            packet(2, 3000, false, SPS),
            packet(3, 3000, false, PPS),
            packet(4, 3000, true, &[0x65, 1]),
            packet(5, 6000, false, &[0x7c, 0x81, 1]),
        ]);
        let out = run(&mut frames, &packets);
        assert_eq!(out.len(), 1);
        // The fragmented frame lost its end: it is dropped, and so is the
        // delta frame after it, until the next keyframe.
        frames.gap();
        let out = run(
            &mut frames,
            &[
                packet(9, 9000, true, &[0x41, 2]),
                packet(10, 12000, true, &[0x65, 2]),
            ],
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].keyframe && out[0].after_loss);
        assert_eq!(frames.dropped, 3);
    }

    #[test]
    fn a_broken_fragment_is_never_written() {
        let mut frames = VideoFrames::default();
        let out = run(
            &mut frames,
            &[
                packet(1, 0, false, SPS),
                packet(2, 0, false, PPS),
                packet(3, 0, false, &[0x7c, 0x85, 1]),
                // A middle fragment of another type: the picture is damaged.
                packet(4, 0, true, &[0x7c, 0x41, 2]),
            ],
        );
        assert!(out.is_empty());
    }
}
