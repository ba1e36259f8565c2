//! Codec knowledge that belongs to no single protocol, for H.264 over RTP
//! (RFC 6184, packetization mode 1):
//!
//! * what an RTP payload holds: keyframes and parameter sets
//!   ([`h264::is_keyframe`], [`h264::sps_in_payload`]), and what an SPS
//!   says about the picture ([`h264::Sps`]);
//! * AVCC access units, the length-prefixed NAL units RTMP and MP4 carry
//!   ([`h264::avcc::nal_units`]);
//! * the [`h264::packetizer::Packetizer`], from access units to RTP payloads
//!   (single NAL unit or FU-A, the stream's SPS and PPS before a keyframe
//!   that lacks them), and the [`h264::depacketizer::Depacketizer`], from RTP
//!   payloads back to NAL units (single NAL unit, STAP-A, FU-A), with loss
//!   reported.
//! * CMAF (fragmented MP4) for HLS and recordings: [`cmaf::init_segment`]
//!   (ftyp + moov: avc1/avcC, Opus/dOps or mp4a/esds), [`cmaf::fragment`]
//!   (moof + mdat) and the RFC 6381 [`cmaf::codecs`] string, built from
//!   mp4-atom's boxes.
//!
//! FTL, WHIP, RTMP and every output read and write media through it. It is
//! sans-IO: byte slices in, values and borrowed slices out, no clock, no
//! sockets, and it knows nothing of RTP headers, streams or the engine. On
//! the packet path it allocates nothing: the packetizer writes fragments
//! into one buffer it allocated when made, the depacketizer reassembles
//! into one buffer that grows to the largest NAL unit (bounded by
//! [`h264::depacketizer::MAX_NAL_UNIT_SIZE`]), and everything else borrows
//! the caller's bytes.
//!
//! The RTMP ingest's loop, in short: one packetizer per stream, the
//! parameter sets from the AVC sequence header, then each access unit cut
//! into payloads that the caller copies into its packets.
//!
//! ```
//! use codec::h264::avcc::nal_units;
//! use codec::h264::depacketizer::Depacketizer;
//! use codec::h264::packetizer::{Packetizer, ParameterSets};
//!
//! let sequence_header = ParameterSets {
//!     sps: vec![vec![0x67, 0x42, 0xc0, 0x1e]],
//!     pps: vec![vec![0x68, 0xce, 0x3c, 0x80]],
//! };
//! // An IDR slice of 3000 bytes, AVCC with 4-byte lengths.
//! let access_unit = [&3000u32.to_be_bytes()[..], &[0x65], &[0xab; 2999]].concat();
//!
//! let mut packetizer = Packetizer::new(1200);
//! let mut payloads = Vec::new();
//! if nal_units(&access_unit, 4).all(|nal| nal.is_ok()) {
//!     let split = nal_units(&access_unit, 4).map_while(Result::ok);
//!     packetizer.packetize(split, &sequence_header, |payload, marker| {
//!         payloads.push((payload.to_vec(), marker));
//!     });
//! }
//! // SPS, PPS, then the slice in three FU-A fragments, the last marked.
//! assert_eq!(payloads.len(), 5);
//! assert!(payloads[4].1);
//!
//! // An output (an HLS segmenter) turns the payloads back into NAL units.
//! let mut depacketizer = Depacketizer::default();
//! let mut nal_sizes = Vec::new();
//! for (sequence, (payload, _)) in (0u16..).zip(&payloads) {
//!     depacketizer.push(sequence, payload, |nal| nal_sizes.push(nal.len()))?;
//! }
//! assert_eq!(nal_sizes, [4, 4, 3000]);
//! # Ok::<(), codec::h264::depacketizer::DepacketizeError>(())
//! ```

pub mod cmaf;
pub mod h264;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
