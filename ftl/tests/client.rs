//! The client session: it sends exactly what ftl_app sends, completes a
//! handshake against the server session, and reacts to every server reply
//! the way FTL-SPEC §3.2 and §3.5 describe.

#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "a test takes one Instant and adds to it"
)]

mod common;

use std::time::{Duration, Instant};

use common::{FTL_APP_ATTRIBUTES, Harness, Out, digest_hex};
use ftl::{
    AudioTrack, ClientConfig, ClientError, ClientEvent, ClientOutput, ClientSession, Event,
    StatusCode, StreamKey, StreamMetadata, VideoTrack,
};

fn ftl_app_metadata() -> StreamMetadata {
    StreamMetadata {
        protocol_version: Some("0.9".into()),
        vendor_name: Some("ftl_app".into()),
        vendor_version: Some("0.0.1".into()),
        video: Some(VideoTrack {
            payload_type: 96,
            ssrc: 124,
            width_hint: Some(1280),
            height_hint: Some(720),
        }),
        audio: Some(AudioTrack {
            payload_type: 97,
            ssrc: 123,
        }),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum ClientOut {
    Sent(Vec<u8>),
    Event(ClientEvent),
    Close(ClientError),
}

fn drain(client: &mut ClientSession) -> Vec<ClientOut> {
    let mut outs = Vec::new();
    loop {
        match client.poll_output() {
            ClientOutput::Send(bytes) => outs.push(ClientOut::Sent(bytes.to_vec())),
            ClientOutput::Event(event) => outs.push(ClientOut::Event(event)),
            ClientOutput::Close(error) => {
                outs.push(ClientOut::Close(error));
                return outs;
            }
            ClientOutput::Timeout(_) => return outs,
        }
    }
}

fn sent(outs: &[ClientOut]) -> Vec<u8> {
    outs.iter()
        .filter_map(|o| match o {
            ClientOut::Sent(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn client(now: Instant) -> ClientSession {
    let key = StreamKey::parse("123-secretkey").unwrap();
    ClientSession::new(now, key, ftl_app_metadata(), ClientConfig::default())
}

/// Pumps bytes both ways until neither side has anything to say.
fn converse(client: &mut ClientSession, server: &mut Harness) -> (Vec<ClientOut>, Vec<Out>) {
    let (mut client_log, mut server_log) = (Vec::new(), Vec::new());
    for _ in 0..16 {
        let from_client = drain(client);
        let to_server = sent(&from_client);
        client_log.extend(from_client);
        let from_server = server.feed(&to_server);
        let to_client = common::sent(&from_server);
        server_log.extend(from_server);
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
        client.handle_input(server.now, &to_client);
    }
    (client_log, server_log)
}

#[test]
fn client_sends_exactly_the_ftl_app_transcript() {
    let mut server = Harness::new();
    let mut client = client(server.now);
    let (client_log, _) = converse(&mut client, &mut server);
    let expected = common::handshake_bytes("123", "secretkey");
    assert_eq!(
        String::from_utf8(sent(&client_log)).unwrap(),
        String::from_utf8(expected).unwrap()
    );
    assert!(
        client_log.contains(&ClientOut::Event(ClientEvent::MediaPort(
            common::MEDIA_PORT
        )))
    );
    assert!(server.session.is_streaming());
}

#[test]
fn server_sees_what_the_client_announced() {
    let mut server = Harness::new();
    let mut client = client(server.now);
    let (_, server_log) = converse(&mut client, &mut server);
    let metadata = server_log.iter().find_map(|o| match o {
        Out::Event(Event::MediaRequested { metadata, .. }) => Some(metadata.clone()),
        _ => None,
    });
    assert_eq!(metadata, Some(ftl_app_metadata()));
}

#[test]
fn client_pings_every_5s_and_gives_up_after_30s_of_silence() {
    let t0 = Instant::now();
    let mut server = Harness::new();
    server.now = t0;
    let mut client = client(t0);
    converse(&mut client, &mut server);
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    client.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(sent(&drain(&mut client)), b"PING 123\r\n\r\n");
    client.handle_input(t0 + Duration::from_secs(5), b"201\n");
    assert_eq!(
        drain(&mut client),
        vec![ClientOut::Event(ClientEvent::Pong)]
    );
    let mut at = t0 + Duration::from_secs(5);
    let mut outs = Vec::new();
    while outs.is_empty() || !matches!(outs.last(), Some(ClientOut::Close(_))) {
        at += Duration::from_secs(5);
        client.handle_timeout(at);
        outs = drain(&mut client);
    }
    assert_eq!(at, t0 + Duration::from_secs(35));
    assert_eq!(
        outs.last(),
        Some(&ClientOut::Close(ClientError::PingTimeout))
    );
}

#[test]
fn wrong_key_is_refused_with_405() {
    let mut server = Harness::new();
    let key = StreamKey::parse("123-wrongkey").unwrap();
    let mut client =
        ClientSession::new(server.now, key, ftl_app_metadata(), ClientConfig::default());
    let (client_log, _) = converse(&mut client, &mut server);
    assert_eq!(
        client_log.last(),
        Some(&ClientOut::Close(ClientError::Refused(
            StatusCode::InvalidStreamKey
        )))
    );
}

#[test]
fn negative_channel_is_printed_like_percent_d() {
    let now = Instant::now();
    let key = StreamKey::parse("4294967295-k").unwrap();
    let mut client =
        ClientSession::new(now, key, StreamMetadata::default(), ClientConfig::default());
    drain(&mut client);
    let challenge: String = (0u8..128).map(|b| format!("{b:02x}")).collect();
    client.handle_input(now, format!("200 {challenge}\n").as_bytes());
    let connect = String::from_utf8(sent(&drain(&mut client))).unwrap();
    assert_eq!(connect, format!("CONNECT -1 ${}\r\n\r\n", digest_hex("k")));
}

#[test]
fn replies_the_client_refuses() {
    let now = Instant::now();
    let challenge: String = (0u8..16).map(|b| format!("{b:02X}")).collect();
    let cases: [(&[&str], ClientError); 6] = [
        (&["405"], ClientError::Refused(StatusCode::InvalidStreamKey)),
        (&["hello"], ClientError::MalformedReply),
        (&["200 xyz"], ClientError::MalformedReply),
        (&["200 abc"], ClientError::MalformedReply),
        (
            &[&format!("200 {challenge}"), "200", "200"],
            ClientError::MalformedReply,
        ),
        (
            &[
                &format!("200 {challenge}"),
                "200",
                "200 hi. Use UDP port 9000",
                "410",
            ],
            ClientError::Refused(StatusCode::ServerTerminate),
        ),
    ];
    for (replies, error) in cases {
        let mut client = client(now);
        drain(&mut client);
        let mut outs = Vec::new();
        for reply in replies {
            client.handle_input(now, format!("{reply}\n").as_bytes());
            outs = drain(&mut client);
        }
        assert_eq!(outs.last(), Some(&ClientOut::Close(error)), "{replies:?}");
    }
}

#[test]
fn short_uppercase_challenge_and_200_while_streaming_are_accepted() {
    let now = Instant::now();
    let mut client = client(now);
    drain(&mut client);
    client.handle_input(now, b"200 0A0B0C0D0E0F10111213141516171819\n");
    assert!(sent(&drain(&mut client)).starts_with(b"CONNECT 123 $"));
    client.handle_input(now, b"200\n");
    let attributes = String::from_utf8(sent(&drain(&mut client))).unwrap();
    for line in FTL_APP_ATTRIBUTES {
        assert!(attributes.contains(line), "{line}");
    }
    client.handle_input(now, b"200 OK. Use UDP port 9001\n200\n");
    assert_eq!(
        drain(&mut client),
        vec![ClientOut::Event(ClientEvent::MediaPort(9001))]
    );
}

#[test]
fn handshake_reply_deadline_is_5s() {
    let now = Instant::now();
    let mut client = client(now);
    drain(&mut client);
    client.handle_timeout(now + Duration::from_secs(5));
    assert_eq!(
        drain(&mut client),
        vec![ClientOut::Close(ClientError::ReplyTimeout)]
    );
}

#[test]
fn disconnect_sends_disconnect_and_closes() {
    let now = Instant::now();
    let mut client = client(now);
    drain(&mut client);
    client.disconnect();
    let outs = drain(&mut client);
    assert_eq!(sent(&outs), b"DISCONNECT\r\n\r\n");
    assert_eq!(
        outs.last(),
        Some(&ClientOut::Close(ClientError::Disconnected))
    );
}
