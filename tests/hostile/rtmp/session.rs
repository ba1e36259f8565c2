//! RTMP cases on the session: commands out of order, wrong and malformed
//! keys, unknown codecs, and the good publish that ends the matrix.

use std::time::{Duration, Instant};

use waveguide::Node;
use waveguide_load::rtmp_publisher::{RtmpError, RtmpPublisher, flv};

use super::{AAC_CONFIG, Case, Check, IDR, PPS, SPS, connect, live_after_close};

/// Commands and media where the session does not allow them.
pub fn out_of_order(node: &Node, check: &mut Check) {
    let addr = node.rtmp_addr().unwrap();
    let key = node.service().example_stream_key("41").unwrap();
    type Step = fn(&mut RtmpPublisher, &str) -> Result<(), RtmpError>;
    let before_connect: [(&str, Step); 3] = [
        ("publish before connect", |c, key| c.publish(key)),
        ("createStream before connect", |c, _| {
            c.create_stream().map(drop)
        }),
        ("releaseStream before connect", |c, key| {
            c.release_stream(key)
        }),
    ];
    for (case, step) in before_connect {
        let mut run = Case::handshaken(addr);
        let _ = step(&mut run.client, &key);
        check(case, run.ending(), "closed");
    }
    let after_connect: [(&str, Step, &str); 4] = [
        ("a second connect", |c, _| connect(c), "closed"),
        (
            "video before publish",
            |c, _| c.video_tag(0, &flv::avc_sequence_header(&SPS, &PPS)),
            "closed",
        ),
        (
            "audio before publish",
            |c, _| c.audio_tag(0, &flv::aac_sequence_header(&AAC_CONFIG)),
            "closed",
        ),
        (
            "play",
            |c, key| c.send_command(0, "play", None, &[key]).map(drop),
            "NetStream.Play.Failed, closed",
        ),
    ];
    for (case, step, expected) in after_connect {
        let mut run = Case::connected(addr);
        let _ = step(&mut run.client, &key);
        check(case, run.ending(), expected);
    }
    let mut run = Case::publishing(node, "41");
    let _ = run.client.publish(&key);
    let ending = run.ending();
    check(
        "a second publish",
        format!("{ending}; live: {}", live_after_close(node, "41")),
        "closed; live: false",
    );
}

/// Refused keys: the status, the close, and whether the channel is live
/// after; the server's description follows in brackets.
pub fn keys(node: &Node, check: &mut Check) {
    let addr = node.rtmp_addr().unwrap();
    let other = node.service().example_stream_key("43").unwrap();
    let (_, secret) = other.split_once('-').unwrap();
    let denied = "NetStream.Publish.Denied, closed; live: false";
    let bad_name = "NetStream.Publish.BadName, closed; live: false";
    let cases = [
        ("a wrong key", "42-wrong".to_string(), "42", denied),
        (
            "channel 42 with channel 43's secret",
            format!("42-{secret}"),
            "42",
            denied,
        ),
        ("a key without a dash", "nodash".into(), "nodash", bad_name),
        ("an empty key", String::new(), "", bad_name),
        (
            "a wrong key for the witness's live channel 1",
            "1-wrong".into(),
            "1",
            "NetStream.Publish.Denied, closed; live: true",
        ),
    ];
    for (case, key, channel, expected) in cases {
        let mut run = Case::connected(addr);
        run.client.create_stream().unwrap();
        let said = match run.client.publish(&key) {
            Err(RtmpError::Status { description, .. }) => description,
            other => format!("publish returned {other:?}"),
        };
        let ending = run.ending();
        let live = live_after_close(node, channel);
        check(case, format!("{ending}; live: {live} ({said})"), expected);
    }
}

/// Codecs the server does not take, after a good publish: refused with a
/// status naming them, then closed.
pub fn codecs(node: &Node, check: &mut Check) {
    let rejected = "NetStream.Publish.Rejected, closed";
    let cases = [
        (
            "legacy video codec id 2 (Sorenson H.263)",
            flv::legacy_video(true, 2, &[0; 8]),
            true,
        ),
        (
            "Enhanced RTMP video 'hvc1'",
            flv::enhanced_video(true, 0, *b"hvc1", &[1, 2, 3]),
            true,
        ),
        (
            "MP3 audio (sound format 2)",
            flv::legacy_audio(2, &[0xff, 0xfb, 0x90, 0x64]),
            false,
        ),
    ];
    for (case, tag, video) in cases {
        let mut run = Case::publishing(node, "44");
        let _ = match video {
            true => run.client.video_tag(0, &tag),
            false => run.client.audio_tag(0, &tag),
        };
        check(
            &format!("after a good publish, {case}"),
            run.ending(),
            rejected,
        );
    }
}

/// After all of it, channel 2 publishes as OBS does, its SPS reaches the
/// engine, and FCUnpublish ends it.
pub fn healthy(node: &Node, check: &mut Check) {
    let key = node.service().example_stream_key("2").unwrap();
    let mut run = Case::connected(node.rtmp_addr().unwrap());
    let client = &mut run.client;
    client.release_stream(&key).unwrap();
    client.fc_publish(&key).unwrap();
    client.create_stream().unwrap();
    let published = match client.publish(&key) {
        Ok(()) => "NetStream.Publish.Start".to_string(),
        Err(error) => error.to_string(),
    };
    client
        .video_tag(0, &flv::avc_sequence_header(&SPS, &PPS))
        .unwrap();
    client
        .audio_tag(0, &flv::aac_sequence_header(&AAC_CONFIG))
        .unwrap();
    client
        .video_tag(0, &flv::avc_frame(true, 0, &flv::avcc(&[&IDR])))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let sps_read = || {
        node.engine()
            .stream("2")
            .and_then(|s| s.sps().copied())
            .is_some()
    };
    while !sps_read() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let sps = sps_read();
    client.fc_unpublish(&key).unwrap();
    client.delete_stream().unwrap();
    run.published = true;
    let ending = run.ending();
    check(
        "after every case, channel 2 publishes with the right key",
        format!(
            "{published}; SPS read: {sps}; on FCUnpublish: {ending}; live: {}",
            live_after_close(node, "2")
        ),
        "NetStream.Publish.Start; SPS read: true; on FCUnpublish: closed; live: false",
    );
}
