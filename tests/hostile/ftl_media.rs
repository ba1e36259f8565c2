//! The FTL media part of the hostile matrix (FTL-SPEC §6, 10-18): odd
//! datagrams at a second live stream's media port, from its latched
//! source, another port of the same IP and another IP, each classified by
//! what the stream's counters (or an echo) say happened to it.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use waveguide::Node;

use crate::answers::Answers;
use crate::common::clients::{self, FtlPublisher, FtlSteps};
use crate::common::witness::dummy_secret;

/// Channel 2, live, whose media port the cases hit.
pub struct SecondStream {
    /// Its publisher: the latched source.
    pub publisher: FtlPublisher,
    /// A socket on another port of the publisher's IP.
    pub stranger: UdpSocket,
}

impl SecondStream {
    /// Publishes channel 2's first frame and waits until it is watchable.
    pub fn start(node: &Node) -> Self {
        let key = format!("2-{}", dummy_secret("2"));
        let publisher = clients::ftl_publisher(node.ftl_addr(), &key).unwrap();
        publisher.send_first_frame(&crate::common::media::h264_clip());
        publisher.wait_until_watchable(node);
        Self {
            publisher,
            stranger: UdpSocket::bind("127.0.0.1:0").unwrap(),
        }
    }
}

/// Where a media case's datagram comes from.
enum Source {
    /// The publisher's own socket.
    Latched,
    /// Another port of the same IP.
    OtherPort,
    /// Another loopback IP.
    OtherIp,
}

/// An RTP packet for the media cases.
fn rtp(first: u8, pt: u8, sequence: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![first, pt];
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(&1000u32.to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

/// Sends each media case and records what became of it.
pub fn check(node: &Node, stream: &SecondStream, answers: &mut Answers) {
    let SecondStream {
        publisher: stream2,
        stranger,
    } = stream;
    let key2 = stream2.key();
    let (video_ssrc, audio_ssrc) = (key2.video_ssrc(), key2.audio_ssrc());
    let v = |sequence: u16, payload: &[u8]| rtp(0x80, 96, sequence, video_ssrc, payload);
    let timed = |sequence: u16, timestamp: u32, marker: bool, payload: &[u8]| {
        let mut packet = rtp(
            0x80,
            (u8::from(marker) << 7) | 96,
            sequence,
            video_ssrc,
            payload,
        );
        packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
        packet
    };
    let sr = |first: u8, ssrc: u32, len: usize| {
        let mut packet = vec![first, 0xc8, 0, 6];
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.resize(len, 0);
        packet
    };
    let ping12 = vec![0x81u8, 0xfa, 0x00, 0x0c, 0, 0, 0, 1, 0, 0, 0, 2];
    let ping24 = [&[0x81u8, 0xfa, 0x00, 0x18][..], &[7; 20]].concat();
    let other_ip = UdpSocket::bind("127.0.0.2:0").unwrap();
    // (case, datagram, where it comes from, documented answer)
    let media_cases: Vec<(&str, Vec<u8>, Source, &str)> = vec![
        ("§10 0 bytes", vec![], Source::Latched, "dropped"),
        ("§10 1 byte", vec![0x80], Source::Latched, "dropped"),
        ("§10 2 bytes", vec![0x80, 96], Source::Latched, "dropped"),
        ("§10 11 bytes", vec![0x80; 11], Source::Latched, "dropped"),
        (
            "§10 a 12-byte RTP header, no payload (kept: viewers see no sequence gap)",
            v(100, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§10 13 bytes",
            v(101, &[0x41]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§10 a 12-byte ping (CC=1 in its first byte)",
            ping12,
            Source::Latched,
            "echoed",
        ),
        ("§10 a 24-byte ping", ping24, Source::Latched, "echoed"),
        (
            "§11 sender report of 27 bytes",
            sr(0x80, video_ssrc, 27),
            Source::Latched,
            "dropped",
        ),
        (
            "§11 sender report of 28 bytes",
            sr(0x80, video_ssrc, 28),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report of 29 bytes",
            sr(0x80, video_ssrc, 29),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report of 1500 bytes",
            sr(0x80, video_ssrc, 1500),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report with b0 = 0x81",
            sr(0x81, video_ssrc, 28),
            Source::Latched,
            "consumed",
        ),
        (
            "§11 sender report for an unknown SSRC",
            sr(0x80, 0xdead_beef, 28),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 0",
            rtp(0x00, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 1",
            rtp(0x40, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 version 3",
            rtp(0xc0, 96, 102, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding count 0",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 0]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding count past the payload",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 200]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 padding as long as the whole packet",
            rtp(0xa0, 96, 102, video_ssrc, &[1, 2, 15]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 extension length past the end",
            rtp(0x90, 96, 102, video_ssrc, &[0xbe, 0xde, 0x00, 0xff]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 extension of length 0",
            rtp(0x90, 96, 103, video_ssrc, &[0xbe, 0xde, 0, 0, 0x41]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§12 CSRC count 15 in 12 bytes",
            rtp(0x8f, 96, 104, video_ssrc, &[]),
            Source::Latched,
            "dropped",
        ),
        (
            "§12 CSRC and extension consume the packet",
            rtp(0x91, 96, 104, video_ssrc, &[0, 0, 0, 1, 0xbe, 0xde, 0, 0]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§12 marker set on audio",
            rtp(0x80, 0x80 | 97, 1, audio_ssrc, &[0xfc, 1, 2]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§13 video PT, unknown SSRC",
            rtp(0x80, 96, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 video SSRC, unknown PT",
            rtp(0x80, 111, 105, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 audio PT with the video SSRC",
            rtp(0x80, 97, 105, video_ssrc, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 PT 72 with the marker (SR look-alike, too short)",
            rtp(0x80, 0xc8, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "dropped",
        ),
        (
            "§13 PT 122 with the marker: a 13-byte ping (marker and PT make a ping, §4.6)",
            rtp(0x80, 0xfa, 105, 0xdead_beef, b"x"),
            Source::Latched,
            "echoed",
        ),
        (
            "§13 valid video from another port of the same IP (NAT rebinding: accepted)",
            v(106, &[0x41, 1]),
            Source::OtherPort,
            "forwarded",
        ),
        (
            "§13 valid video from another IP (127.0.0.2)",
            v(106, &[0x41, 5]),
            Source::OtherIp,
            "dropped",
        ),
        (
            "§14 a late packet, 107 behind the newest",
            v(65535, &[0x41, 2]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§14 a duplicate of sequence 101",
            v(101, &[0x41]),
            Source::Latched,
            "dropped",
        ),
        (
            "§14 the next sequence, 107",
            v(107, &[0x41, 3]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§14 a jump of +3000",
            v(3107, &[0x41, 4]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a timestamp going backwards",
            timed(3108, 10, false, &[0x41, 6]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a timestamp jumping by 2^31",
            timed(3109, 1 << 31, false, &[0x41, 7]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a keyframe without the marker",
            timed(3110, 1 << 31, false, &[0x65, 8]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§15 a marker with no keyframe",
            timed(3111, 1 << 31, true, &[0x41, 9]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 an empty H.264 payload",
            v(3118, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 FU-A of 2 bytes",
            v(3119, &[0x7c, 0x85]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 FU-A with S and E both set",
            v(3120, &[0x7c, 0xc5, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 STAP-A",
            v(3121, &[0x18, 0, 2, 0x41, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 NAL type 31",
            v(3122, &[0x1f, 1]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 a truncated SPS",
            v(3123, &[0x67, 0x42]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 an SPS with a huge width",
            v(
                3114,
                &[0x67, 0x42, 0xc0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
            Source::Latched,
            "forwarded",
        ),
        (
            "§16 00 00 03 at the end",
            v(3125, &[0x41, 0, 0, 3]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 OpusHead mid-stream",
            rtp(0x80, 97, 2, audio_ssrc, b"OpusHead\x01\x02"),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 a 0-byte Opus payload",
            rtp(0x80, 97, 3, audio_ssrc, &[]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 1500 bytes of garbage as Opus",
            [rtp(0x80, 97, 4, audio_ssrc, &[]), vec![0xa5; 1488]].concat(),
            Source::Latched,
            "forwarded",
        ),
        (
            "§17 Opus TOC code 3 with a bad frame count",
            rtp(0x80, 97, 5, audio_ssrc, &[0x03, 0xff]),
            Source::Latched,
            "forwarded",
        ),
        (
            "§18 a 2000-byte datagram",
            v(3126, &[0x41; 1988]),
            Source::Latched,
            "dropped",
        ),
        (
            "§18 a 65 507-byte datagram",
            vec![0x80; 65_507],
            Source::Latched,
            "dropped",
        ),
    ];
    let stats2 = || node.engine().stream("2").unwrap().stats();
    let mut buf = vec![0u8; 70_000];
    for (case, datagram, source, expected) in media_cases {
        let before = stats2();
        let socket = match source {
            Source::Latched => stream2.media(),
            Source::OtherPort => stranger,
            Source::OtherIp => &other_ip,
        };
        let _ = socket.send_to(&datagram, stream2.media_addr());
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut answer = "consumed";
        while Instant::now() < deadline {
            let after = stats2();
            if after.dropped > before.dropped {
                answer = "dropped";
                break;
            }
            if after.packets_in > before.packets_in {
                answer = "forwarded";
                break;
            }
            if let Ok(n) = stream2.media().recv(&mut buf)
                && n == datagram.len()
                && buf[1] == 0xfa
            {
                answer = "echoed";
                break;
            }
        }
        answers.check(&format!("FTL media: {case}"), answer.to_string(), expected);
    }
}
