//! VideoIngest: an RTMP stream's FLV video tags into its video ring. The
//! AVC sequence header gives the NAL length size and the SPS/PPS; each
//! access unit's AVCC NAL units become RTP payloads (single NAL or FU-A,
//! SPS and PPS in-band before every IDR), stamped with the presentation
//! time (FLV timestamp plus composition offset, at 90 kHz).
//!
//! B-frames are refused, not forwarded: RTP could carry them (decode order,
//! presentation timestamps), but browsers' WebRTC stacks do not reorder
//! frames: Chromium, given the stream of an x264 encoder with two B-frames,
//! decoded 44 frames in 20 s and dropped the rest, asking for keyframe
//! after keyframe. A stream whose presentation times go backwards (a
//! reordered frame; a constant composition offset is fine) ends with an
//! error status that tells the streamer to set B-frames to 0.

use std::sync::Arc;

use codec::h264::avcc::nal_units;
use codec::h264::packetizer::{Packetizer, ParameterSets};
use engine::{PushedTrack, RtpFields};
use rtmp::VideoTag;

use super::MAX_RTP_PAYLOAD;

/// Ticks of the 90 kHz video clock per millisecond.
const TICKS_PER_MS: u32 = 90;

/// Longest backward step of presentation time taken for reordering; a
/// larger one is a timestamp jump (an encoder's restart, RTMP's 32-bit ms
/// wrap), after which times are followed again.
const REORDER_WINDOW_MS: u32 = 1000;

/// Why a video tag was not forwarded.
#[derive(Debug, thiserror::Error)]
pub(super) enum VideoError {
    /// A frame came before the sequence header that says how to split it.
    #[error("an H.264 frame before the AVC sequence header")]
    FrameBeforeConfig,
    /// The AVCC data did not split into NAL units.
    #[error("malformed AVCC access unit: {0}")]
    Avcc(#[from] codec::h264::avcc::AvccError),
    /// A frame is presented before one decoded earlier: B-frames.
    #[error(
        "B-frames are not supported (WebRTC players cannot reorder frames): set B-frames to 0 in the encoder"
    )]
    BFrames,
}

/// The video side of one RTMP stream.
pub(super) struct VideoIngest {
    track: PushedTrack,
    packetizer: Packetizer,
    parameter_sets: ParameterSets,
    nal_length_size: Option<u8>,
    sequence: u16,
    /// The latest presentation time sent, in ms (RTMP's 32-bit, wrapping clock).
    last_presentation: Option<u32>,
}

impl VideoIngest {
    /// The video side of a stream, writing `track`.
    pub fn new(track: PushedTrack) -> Self {
        Self {
            track,
            packetizer: Packetizer::new(MAX_RTP_PAYLOAD),
            parameter_sets: ParameterSets::default(),
            nal_length_size: None,
            sequence: 0,
            last_presentation: None,
        }
    }

    /// Whether the stream was ended from elsewhere (taken over).
    pub fn is_ended(&self) -> bool {
        self.track.is_ended()
    }

    /// Forwards one video tag stamped `timestamp` (ms).
    pub fn on_tag(&mut self, timestamp: u32, tag: VideoTag) -> Result<(), VideoError> {
        match tag {
            VideoTag::AvcConfig(config) => {
                self.nal_length_size = Some(config.nal_length_size);
                self.parameter_sets = ParameterSets {
                    sps: config.sps.iter().map(|sps| sps.to_vec()).collect(),
                    pps: config.pps.iter().map(|pps| pps.to_vec()).collect(),
                };
                Ok(())
            }
            VideoTag::AvcFrame {
                composition_time,
                data,
                ..
            } => {
                let length_size = self.nal_length_size.ok_or(VideoError::FrameBeforeConfig)?;
                let presentation = timestamp.wrapping_add_signed(composition_time);
                if self.last_presentation.is_some_and(|last| {
                    let back = last.wrapping_sub(presentation);
                    (1..=REORDER_WINDOW_MS).contains(&back)
                }) {
                    return Err(VideoError::BFrames);
                }
                self.last_presentation = Some(presentation);
                // Checked whole before any of it is sent: a bad unit sends nothing.
                if let Some(Err(error)) = nal_units(&data, length_size).find(Result::is_err) {
                    return Err(error.into());
                }
                let units = nal_units(&data, length_size).map_while(Result::ok);
                // 90 × 2^32 ≡ 0 (mod 2^32): RTP time wraps with RTMP's.
                let rtp_timestamp = presentation.wrapping_mul(TICKS_PER_MS);
                let (track, sequence) = (&mut self.track, &mut self.sequence);
                self.packetizer
                    .packetize(units, &self.parameter_sets, |payload, marker| {
                        let rtp = RtpFields {
                            sequence: *sequence,
                            timestamp: rtp_timestamp,
                            marker,
                        };
                        *sequence = sequence.wrapping_add(1);
                        track.publish(rtp, Arc::from(payload));
                    });
                self.track.wake_followers();
                Ok(())
            }
            VideoTag::EndOfSequence => Ok(()),
        }
    }
}
