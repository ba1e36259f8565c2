//! The server control session against every command and error path of
//! FTL-SPEC §3 and the control cases of §6, bytes in and exact bytes out.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::time::Duration;

use common::{FTL_APP_ATTRIBUTES, Harness, Out, closed, digest_hex, framed, sent};
use ftl::{
    AttributeKey, CloseReason, CommandError, CommandKind, ControlError, Event, Ignored,
    MetadataError, Output, ServerConfig, StatusCode,
};

fn error(outs: &[Out]) -> ControlError {
    match closed(outs) {
        Some(CloseReason::Error(error)) => error,
        other => panic!("expected an error close, got {other:?} from {outs:?}"),
    }
}

fn authenticated() -> Harness {
    let mut h = Harness::new();
    h.feed(&framed(&[
        "HMAC".to_string(),
        format!("CONNECT 123 ${}", digest_hex("secretkey")),
    ]));
    h
}

#[test]
fn hmac_gets_200_and_the_challenge_in_lowercase_hex() {
    let mut h = Harness::new();
    let outs = h.feed(b"HMAC\r\n\r\n");
    let expected: String = (0u8..128).map(|b| format!("{b:02x}")).collect();
    assert_eq!(sent(&outs), format!("200 {expected}\n").into_bytes());
    assert_eq!(closed(&outs), None);
}

#[test]
fn full_handshake_exact_replies_and_events() {
    let mut h = Harness::new();
    let outs = h.stream();
    let challenge: String = (0u8..128).map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        sent(&outs),
        format!("200 {challenge}\n200\n200 hi. Use UDP port 51517\n").into_bytes()
    );
    let events: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Out::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0], Event::KeyRequired { channel: 123 });
    assert_eq!(events[1], Event::Authenticated { channel: 123 });
    let Event::MediaRequested { channel, metadata } = &events[2] else {
        panic!("{events:?}");
    };
    assert_eq!(*channel, 123);
    assert_eq!(metadata.vendor_name.as_deref(), Some("ftl_app"));
    assert_eq!(metadata.vendor_version.as_deref(), Some("0.0.1"));
    assert_eq!(metadata.protocol_version.as_deref(), Some("0.9"));
    let params = metadata.media_params();
    assert_eq!(
        params.video.map(|v| (v.payload_type, v.ssrc)),
        Some((96, 124))
    );
    assert_eq!(
        params.audio.map(|a| (a.payload_type, a.ssrc)),
        Some((97, 123))
    );
    assert_eq!(h.session.channel(), Some(123));
}

#[test]
fn attributes_get_no_reply() {
    let mut h = authenticated();
    let outs = h.feed(&framed(&FTL_APP_ATTRIBUTES));
    assert!(outs.is_empty(), "{outs:?}");
}

#[test]
fn bare_lf_framing_works_too() {
    let mut h = Harness::new();
    let bytes = common::handshake_bytes("123", "secretkey");
    let lf_only: Vec<u8> = String::from_utf8(bytes)
        .unwrap()
        .replace("\r\n\r\n", "\n")
        .into_bytes();
    h.feed(&lf_only);
    assert!(h.session.is_streaming());
}

#[test]
fn ping_with_and_without_channel_gets_201() {
    let mut h = Harness::new();
    h.stream();
    assert_eq!(sent(&h.feed(b"PING 123\r\n\r\n")), b"201\n");
    assert_eq!(sent(&h.feed(b"PING\r\n\r\n")), b"201\n");
}

#[test]
fn ping_for_another_channel_or_garbage_is_ignored() {
    let mut h = Harness::new();
    h.stream();
    let outs = h.feed(b"PING 999\r\n\r\n");
    assert_eq!(
        outs,
        vec![Out::Event(Event::Ignored(Ignored::PingForOtherChannel))]
    );
    let outs = h.feed(b"PING abc\r\n\r\n");
    assert_eq!(
        outs,
        vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))]
    );
}

#[test]
fn ping_keeps_the_session_alive_and_silence_ends_it_with_410() {
    let mut h = Harness::new();
    h.stream();
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_secs(30))
    );
    for _ in 0..10 {
        assert!(h.advance(Duration::from_secs(5)).is_empty());
        h.feed(b"PING 123\r\n\r\n");
    }
    let outs = h.advance(Duration::from_millis(29_999));
    assert!(outs.is_empty());
    let outs = h.advance(Duration::from_millis(1));
    assert_eq!(sent(&outs), b"410\n");
    assert_eq!(error(&outs), ControlError::PingTimeout);
}

#[test]
fn ping_storm_is_rate_limited_and_bounded() {
    let mut h = Harness::new();
    h.stream();
    let storm = b"PING 123\r\n\r\n".repeat(10_000);
    let outs = h.feed(&storm);
    assert_eq!(sent(&outs), b"201\n201\n201\n201\n");
    assert_eq!(
        outs.len(),
        5,
        "one write and four events, however long the storm"
    );
    assert_eq!(closed(&outs), None);
    assert_eq!(h.session.pings_rate_limited(), 9_996);
}

#[test]
fn pings_refill_over_time() {
    let mut h = Harness::new();
    h.stream();
    let four = b"PING\n".repeat(4);
    assert_eq!(sent(&h.feed(&four)), b"201\n".repeat(4));
    assert!(h.feed(b"PING\n").is_empty());
    assert_eq!(h.session.pings_rate_limited(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(sent(&h.feed(b"PING\n")), b"201\n");
}

#[test]
fn disconnect_closes_silently_in_every_state() {
    let prefixes: Vec<Vec<u8>> = vec![
        vec![],
        framed(&["HMAC"]),
        framed(&[
            "HMAC".to_string(),
            format!("CONNECT 123 ${}", digest_hex("secretkey")),
        ]),
        {
            let mut b = framed(&[
                "HMAC".to_string(),
                format!("CONNECT 123 ${}", digest_hex("secretkey")),
            ]);
            b.extend(framed(&FTL_APP_ATTRIBUTES[..4]));
            b
        },
        common::handshake_bytes("123", "secretkey"),
    ];
    for prefix in prefixes {
        let mut h = Harness::new();
        h.feed(&prefix);
        let outs = h.feed(b"DISCONNECT\r\n\r\nPING 123\r\n\r\nHMAC\r\n\r\n");
        assert_eq!(outs, vec![Out::Close(CloseReason::ClientDisconnected)]);
        assert_eq!(h.session.poll_timeout(), None);
        assert_eq!(
            h.feed(b"HMAC\r\n\r\n"),
            vec![Out::Close(CloseReason::ClientDisconnected)]
        );
    }
}

#[test]
fn disconnect_is_not_connect() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("DISCONNECT 123 ${}\n", digest_hex("secretkey")).as_bytes());
    assert_eq!(outs, vec![Out::Close(CloseReason::ClientDisconnected)]);
}

#[test]
fn connect_before_hmac_gets_400() {
    let mut h = Harness::new();
    let outs = h.feed(format!("CONNECT 123 ${}\r\n\r\n", digest_hex("secretkey")).as_bytes());
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(
        error(&outs),
        ControlError::UnexpectedCommand {
            command: CommandKind::Connect,
            state: "expecting HMAC"
        }
    );
}

#[test]
fn hmac_twice_gets_400() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(b"HMAC\n");
    assert_eq!(sent(&outs), b"400\n");
}

#[test]
fn hmac_after_connect_or_streaming_gets_400() {
    let mut h = authenticated();
    assert_eq!(sent(&h.feed(b"HMAC\n")), b"400\n");
    let mut h = Harness::new();
    h.stream();
    assert_eq!(sent(&h.feed(b"HMAC\n")), b"400\n");
}

#[test]
fn near_miss_first_lines_get_400() {
    for line in [
        &b"hmac\n"[..],
        b"HMAC \n",
        b"HMAC x\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\0\0\n",
        b"\xff\xfe\n",
    ] {
        let mut h = Harness::new();
        let outs = h.feed(line);
        assert_eq!(sent(&outs), b"400\n", "{line:?}");
    }
}

#[test]
fn tls_client_hello_is_refused_by_deadline_or_length() {
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.extend((0..500).map(|i| (i * 7 % 251) as u8 | 0x80));
    let mut h = Harness::new();
    assert!(h.feed(&hello).is_empty());
    let outs = h.advance(Duration::from_secs(5));
    assert_eq!(sent(&outs), b"410\n");
    assert_eq!(error(&outs), ControlError::HandshakeTimeout);
}

#[test]
fn malformed_connect_gets_400() {
    let hex = digest_hex("secretkey");
    for line in [
        "CONNECT".to_string(),
        "CONNECT ".to_string(),
        "CONNECT 1".to_string(),
        "CONNECT 1 ".to_string(),
        "CONNECT 1 $".to_string(),
        "CONNECT 1 abc".to_string(),
        "CONNECT 1 $$abc".to_string(),
        format!("CONNECT 123 ${}", &hex[1..]),
        format!("CONNECT 123 ${}", hex.to_uppercase()),
        format!("CONNECT 123 $zz{}", &hex[2..]),
        format!("CONNECT 123 ${}", &hex[..127]),
        format!("CONNECT 123 ${hex}0"),
        format!("CONNECT 123 ${hex} extra"),
        format!("CONNECT  123 ${hex}"),
        format!("CONNECT 123  ${hex}"),
        format!("CONNECT 4294967296 ${hex}"),
        format!("CONNECT 99999999999999999999 ${hex}"),
        format!("CONNECT +5 ${hex}"),
        format!("CONNECT 123\t${hex}"),
    ] {
        let mut h = Harness::new();
        h.feed(b"HMAC\n");
        let outs = h.feed(format!("{line}\n").as_bytes());
        assert_eq!(sent(&outs), b"400\n", "{line:?}");
        assert_eq!(
            error(&outs),
            ControlError::Command(CommandError::MalformedConnect),
            "{line:?}"
        );
    }
}

#[test]
fn connect_with_huge_hash_is_capped_by_line_length() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("CONNECT 1 ${}\n", "a".repeat(100_000)).as_bytes());
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::LineTooLong { max: 1024 });
}

#[test]
fn wrong_hmac_gets_405() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("CONNECT 123 ${}\n", digest_hex("wrongkey")).as_bytes());
    assert_eq!(sent(&outs), b"405\n");
    assert_eq!(error(&outs), ControlError::HmacMismatch);
}

#[test]
fn right_hmac_for_the_wrong_channel_gets_405() {
    // Channel 124's key is not `secretkey`; the harness refuses unknown channels.
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("CONNECT 124 ${}\n", digest_hex("secretkey")).as_bytes());
    assert_eq!(sent(&outs), b"405\n");
    assert_eq!(
        closed(&outs),
        Some(CloseReason::Terminated(StatusCode::InvalidStreamKey))
    );
}

#[test]
fn negative_channel_from_percent_d_is_read_as_u32() {
    let mut h = Harness::new();
    h.answer_caller = false;
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("CONNECT -1 ${}\n", digest_hex("k")).as_bytes());
    assert_eq!(
        outs,
        vec![Out::Event(Event::KeyRequired { channel: u32::MAX })]
    );
}

#[test]
fn second_connect_gets_400() {
    let mut h = authenticated();
    let outs = h.feed(format!("CONNECT 123 ${}\n", digest_hex("secretkey")).as_bytes());
    assert_eq!(sent(&outs), b"400\n");
}

#[test]
fn xconnect_is_an_ignored_unknown_command() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    let outs = h.feed(format!("XCONNECT 123 ${}\n", digest_hex("secretkey")).as_bytes());
    assert_eq!(
        outs,
        vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))]
    );
}

#[test]
fn attributes_before_auth_get_400() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    assert_eq!(sent(&h.feed(b"Video: true\n")), b"400\n");
}

#[test]
fn attributes_after_dot_get_400() {
    let mut h = Harness::new();
    h.stream();
    assert_eq!(sent(&h.feed(b"Video: true\n")), b"400\n");
}

#[test]
fn invalid_attribute_values_get_400() {
    for (line, key) in [
        ("VideoPayloadType: 72", AttributeKey::VideoPayloadType),
        ("VideoPayloadType: 122", AttributeKey::VideoPayloadType),
        ("VideoPayloadType: 352", AttributeKey::VideoPayloadType),
        ("AudioPayloadType: 0", AttributeKey::AudioPayloadType),
        ("VideoIngestSSRC: 0", AttributeKey::VideoIngestSsrc),
        ("AudioIngestSSRC: 1e3", AttributeKey::AudioIngestSsrc),
        ("Video: yes", AttributeKey::Video),
        ("VideoCodec: ", AttributeKey::VideoCodec),
        ("VideoHeight: -1", AttributeKey::VideoHeight),
    ] {
        let mut h = authenticated();
        let outs = h.feed(format!("{line}\n").as_bytes());
        assert_eq!(sent(&outs), b"400\n", "{line}");
        assert_eq!(
            error(&outs),
            ControlError::Command(CommandError::InvalidAttribute(key))
        );
    }
}

#[test]
fn odd_but_harmless_attribute_lines_are_ignored() {
    let mut h = authenticated();
    let unknown = vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))];
    for (line, expected) in [
        ("Key:Value", unknown.clone()),
        (": value", unknown),
        ("SomethingNew: 1", vec![]),
        ("Key: a: b", vec![]),
    ] {
        assert_eq!(h.feed(format!("{line}\n").as_bytes()), expected, "{line}");
    }
    h.feed(&framed(&FTL_APP_ATTRIBUTES));
    h.feed(b".\n");
    assert!(h.session.is_streaming());
}

#[test]
fn too_many_attributes_get_400() {
    let mut h = authenticated();
    let outs = h.feed("SomethingNew: 1\n".repeat(64).as_bytes());
    assert_eq!(closed(&outs), None);
    let outs = h.feed(b"SomethingNew: 1\n");
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::TooManyAttributes { max: 64 });
}

#[test]
fn dot_checks_the_announced_tracks() {
    let cases: [(&[&str], MetadataError); 5] = [
        (&[], MetadataError::NoMedia),
        (&["Video: true"], MetadataError::IncompleteTrack("video")),
        (
            &[
                "Video: true",
                "VideoCodec: VP8",
                "VideoPayloadType: 96",
                "VideoIngestSSRC: 124",
            ],
            MetadataError::UnsupportedCodec("video"),
        ),
        (
            &[
                "Video: true",
                "VideoCodec: H264",
                "VideoPayloadType: 96",
                "VideoIngestSSRC: 124",
                "Audio: true",
                "AudioCodec: OPUS",
                "AudioPayloadType: 96",
                "AudioIngestSSRC: 123",
            ],
            MetadataError::PayloadTypeCollision,
        ),
        (
            &[
                "Video: true",
                "VideoCodec: H264",
                "VideoPayloadType: 96",
                "VideoIngestSSRC: 124",
                "Audio: true",
                "AudioCodec: OPUS",
                "AudioPayloadType: 97",
                "AudioIngestSSRC: 124",
            ],
            MetadataError::SsrcCollision,
        ),
    ];
    for (attributes, expected) in cases {
        let mut h = authenticated();
        h.feed(&framed(attributes));
        let outs = h.feed(b".\n");
        assert_eq!(sent(&outs), b"400\n", "{attributes:?}");
        assert_eq!(error(&outs), ControlError::Metadata(expected));
    }
}

#[test]
fn video_only_and_audio_only_streams_start() {
    for attributes in [
        &[
            "Video: true",
            "VideoCodec: H264",
            "VideoPayloadType: 96",
            "VideoIngestSSRC: 124",
        ][..],
        &[
            "Audio: true",
            "AudioCodec: OPUS",
            "AudioPayloadType: 97",
            "AudioIngestSSRC: 123",
        ],
    ] {
        let mut h = authenticated();
        h.feed(&framed(attributes));
        let outs = h.feed(b".\n");
        assert_eq!(sent(&outs), b"200 hi. Use UDP port 51517\n");
    }
}

#[test]
fn dot_before_auth_or_twice_gets_400() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    assert_eq!(sent(&h.feed(b".\n")), b"400\n");
    let mut h = Harness::new();
    h.stream();
    assert_eq!(sent(&h.feed(b".\n")), b"400\n");
}

#[test]
fn dot_look_alikes_are_unknown() {
    let mut h = authenticated();
    h.feed(&framed(&FTL_APP_ATTRIBUTES));
    for line in ["..", " .", ". "] {
        let outs = h.feed(format!("{line}\n").as_bytes());
        assert_eq!(
            outs,
            vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))],
            "{line:?}"
        );
    }
    assert!(!h.session.is_streaming());
}

#[test]
fn ping_before_streaming_gets_400() {
    let mut h = Harness::new();
    h.feed(b"HMAC\n");
    assert_eq!(sent(&h.feed(b"PING 123\n")), b"400\n");
}

#[test]
fn unknown_commands_are_ignored_then_capped() {
    let mut h = Harness::new();
    h.stream();
    for _ in 0..32 {
        let outs = h.feed(b"NONSENSE\n");
        assert_eq!(
            outs,
            vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))]
        );
    }
    let outs = h.feed(b"\x00\xff garbage\n");
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::TooManyIgnoredLines { max: 32 });
}

#[test]
fn line_length_cap_1024() {
    let mut h = Harness::new();
    h.stream();
    let at_cap = format!("X{}\r\n", "y".repeat(1023));
    assert_eq!(
        h.feed(at_cap.as_bytes()),
        vec![Out::Event(Event::Ignored(Ignored::UnknownCommand))]
    );
    let over = format!("X{}\n", "y".repeat(1024));
    let outs = h.feed(over.as_bytes());
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::LineTooLong { max: 1024 });
}

#[test]
fn unterminated_64k_is_capped() {
    let mut h = Harness::new();
    let outs = h.feed(&vec![b'A'; 64 * 1024]);
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::LineTooLong { max: 1024 });
    let mut h = Harness::new();
    assert!(
        h.feed(&vec![b'A'; 1023]).is_empty(),
        "1023 bytes may still become a line"
    );
}

#[test]
fn handshake_deadline_is_5s_from_accept() {
    let mut h = Harness::new();
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.t0 + Duration::from_secs(5))
    );
    assert!(h.advance(Duration::from_millis(4999)).is_empty());
    let outs = h.advance(Duration::from_millis(1));
    assert_eq!(sent(&outs), b"410\n");
    assert_eq!(error(&outs), ControlError::HandshakeTimeout);
}

#[test]
fn no_dot_within_the_deadline_gets_410() {
    let mut h = authenticated();
    h.feed(&framed(&FTL_APP_ATTRIBUTES));
    let outs = h.advance(Duration::from_secs(5));
    assert_eq!(sent(&outs), b"410\n");
}

#[test]
fn slow_loris_gets_410() {
    let mut h = Harness::new();
    let mut outs = Vec::new();
    for &byte in b"HMAC\r\n\r\n".iter().cycle().take(20) {
        h.now += Duration::from_secs(1);
        outs = h.feed(&[byte]);
        if closed(&outs).is_some() {
            break;
        }
    }
    assert_eq!(error(&outs), ControlError::HandshakeTimeout);
}

#[test]
fn late_bytes_fire_the_deadline_before_being_read() {
    let mut h = Harness::new();
    h.now += Duration::from_secs(6);
    let outs = h.feed(b"HMAC\n");
    assert_eq!(sent(&outs), b"410\n");
}

#[test]
fn key_lookup_that_outlives_the_deadline_is_ignored() {
    let mut h = Harness::new();
    h.answer_caller = false;
    h.feed(b"HMAC\n");
    h.feed(format!("CONNECT 123 ${}\n", digest_hex("secretkey")).as_bytes());
    let outs = h.advance(Duration::from_secs(5));
    assert_eq!(sent(&outs), b"410\n");
    h.session.verify_key(h.now, b"secretkey");
    assert_eq!(
        h.drain(),
        vec![Out::Close(CloseReason::Error(
            ControlError::HandshakeTimeout
        ))]
    );
}

#[test]
fn lines_sent_while_the_key_is_looked_up_are_read_afterwards() {
    let mut h = Harness::new();
    h.answer_caller = false;
    h.feed(b"HMAC\n");
    let mut rest = format!("CONNECT 123 ${}\n", digest_hex("secretkey")).into_bytes();
    rest.extend(framed(&FTL_APP_ATTRIBUTES));
    rest.extend(b".\n");
    let outs = h.feed(&rest);
    assert_eq!(outs, vec![Out::Event(Event::KeyRequired { channel: 123 })]);
    h.session.verify_key(h.now, b"secretkey");
    let outs = h.drain();
    assert_eq!(sent(&outs), b"200\n");
    assert!(matches!(
        outs.last(),
        Some(Out::Event(Event::MediaRequested { channel: 123, .. }))
    ));
    h.session
        .start_media(h.now, std::num::NonZeroU16::new(9000).unwrap());
    assert_eq!(sent(&h.drain()), b"200 hi. Use UDP port 9000\n");
}

#[test]
fn flooding_while_the_key_is_looked_up_gets_400() {
    let mut h = Harness::new();
    h.answer_caller = false;
    h.feed(b"HMAC\n");
    h.feed(format!("CONNECT 123 ${}\n", digest_hex("secretkey")).as_bytes());
    let outs = h.feed(&b"Video: true\n".repeat(1000));
    assert_eq!(sent(&outs), b"400\n");
    assert_eq!(error(&outs), ControlError::InputWhileWaiting);
}

#[test]
fn terminate_sends_the_code_then_closes() {
    for status in [
        StatusCode::NoMediaTimeout,
        StatusCode::ServerTerminate,
        StatusCode::ChannelInUse,
    ] {
        let mut h = Harness::new();
        h.stream();
        h.session.terminate(status);
        let outs = h.drain();
        assert_eq!(sent(&outs), status.line());
        assert_eq!(closed(&outs), Some(CloseReason::Terminated(status)));
        h.session.terminate(StatusCode::InternalServerError);
        assert_eq!(sent(&h.drain()), b"");
    }
}

#[test]
fn no_free_port_gets_500() {
    let mut h = authenticated();
    h.answer_caller = false;
    let mut attributes = framed(&FTL_APP_ATTRIBUTES);
    attributes.extend(b".\n");
    h.feed(&attributes);
    h.session.terminate(StatusCode::InternalServerError);
    assert_eq!(sent(&h.drain()), b"500\n");
}

#[test]
fn every_reply_is_one_lf_line_under_256_bytes_except_the_challenge() {
    let mut h = Harness::new();
    let mut outs = h.stream();
    outs.extend(h.feed(b"PING 123\n"));
    h.session.terminate(StatusCode::ServerTerminate);
    outs.extend(h.drain());
    for out in outs {
        if let Out::Sent(bytes) = out {
            for line in bytes.split_inclusive(|&b| b == b'\n') {
                assert!(line.ends_with(b"\n") && !line.ends_with(b"\r\n"));
                assert!(line.len() < 256 || line.len() == 261, "{}", line.len());
            }
        }
    }
}

#[test]
fn config_overrides_limits() {
    let config = ServerConfig {
        handshake_timeout: Duration::from_secs(10),
        max_line_len: 16,
        ..ServerConfig::default()
    };
    let mut h = Harness::with_config(config);
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.t0 + Duration::from_secs(10))
    );
    let outs = h.feed(b"HMAC\nXXXXXXXXXXXXXXXXX\n");
    assert_eq!(error(&outs), ControlError::LineTooLong { max: 16 });
}

#[test]
fn a_reply_queued_between_polls_is_not_lost() {
    let mut h = Harness::new();
    h.stream();
    h.session.handle_input(h.now, b"PING 123\n");
    let Output::Send(first) = h.session.poll_output() else {
        panic!("expected the pong");
    };
    assert_eq!(first, b"201\n");
    // The caller is still writing the pong when a takeover ends the stream.
    h.session.terminate(StatusCode::ServerTerminate);
    assert_eq!(h.session.poll_output(), Output::Send(b"410\n"));
    assert!(matches!(
        h.session.poll_output(),
        Output::Event(Event::Ping)
    ));
    assert_eq!(
        h.session.poll_output(),
        Output::Close(CloseReason::Terminated(StatusCode::ServerTerminate))
    );
}

#[test]
fn terminate_drops_an_unsent_pong_so_the_code_is_read() {
    let mut h = Harness::new();
    h.stream();
    h.session.handle_input(h.now, b"PING 123\n");
    h.session.terminate(StatusCode::NoMediaTimeout);
    assert_eq!(sent(&h.drain()), b"408\n");
}

#[test]
fn terminate_keeps_an_unsent_handshake_reply() {
    let mut h = Harness::new();
    h.session.handle_input(h.now, b"HMAC\n");
    h.session.terminate(StatusCode::ServerTerminate);
    let bytes = sent(&h.drain());
    assert!(bytes.starts_with(b"200 ") && bytes.ends_with(b"\n410\n"));
}

#[test]
fn disconnect_while_the_key_is_looked_up_is_read_after_the_answer() {
    let mut h = Harness::new();
    h.answer_caller = false;
    h.feed(b"HMAC\n");
    let mut bytes = format!("CONNECT 123 ${}\n", digest_hex("secretkey")).into_bytes();
    bytes.extend(b"DISCONNECT\n");
    assert_eq!(
        h.feed(&bytes),
        vec![Out::Event(Event::KeyRequired { channel: 123 })]
    );
    h.session.verify_key(h.now, b"secretkey");
    let outs = h.drain();
    assert_eq!(sent(&outs), b"200\n");
    assert_eq!(closed(&outs), Some(CloseReason::ClientDisconnected));
}
