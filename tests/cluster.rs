//! The cluster end to end on 127.0.0.1: orchestrators (memory and Redis
//! registries, one of them a real process that is killed), nodes that
//! register and report their streams, `307` redirects for publishers and
//! viewers, and an edge node relaying an FTL stream from its origin over
//! WHEP to its own viewers, checked byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::clients::{self, FtlPublisher, FtlSteps, RecordingViewer};
use common::clip_pacer::ClipPacer;
use common::cluster::{
    RedisServer, TTL, address_of, holders, node_ids, reported_viewers, spawn_member,
    spawn_orchestrator, start_member, start_orchestrator, wait_for,
};
use common::http;
use common::media::{MediaPacket, h264_clip, opus_packets};
use waveguide::Node;
use waveguide::orchestrator::Store;

const CHANNEL: &str = "123";

/// A viewer driven on its own thread.
struct RunningViewer {
    /// The node it watches on.
    node: SocketAddr,
    thread: JoinHandle<RecordingViewer>,
    stop: Arc<AtomicBool>,
    /// Set to make it send one keyframe request (PLI).
    ask_keyframe: Arc<AtomicBool>,
    /// Its WHEP resource (an absolute URL).
    resource: String,
}

impl RunningViewer {
    fn finish(self) -> RecordingViewer {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap()
    }
}

/// Asks `orchestrator` where to watch `channel` from `region`, follows the
/// `307` with the same offer (as RFC 9725 clients do), and starts the viewer.
fn join_via(orchestrator: SocketAddr, region: &str) -> RunningViewer {
    let (viewer, offer) = clients::viewer();
    let sdp = [("Content-Type", "application/sdp")];
    let asked = http::request(
        orchestrator,
        "POST",
        &format!("/whep/endpoint/{CHANNEL}?region={region}"),
        &sdp,
        offer.as_bytes(),
    );
    assert_eq!(asked.status, 307, "{}", asked.body);
    let location = asked.header("location").unwrap().to_owned();
    assert!(
        location.ends_with(&format!("/whep/endpoint/{CHANNEL}")),
        "{location}"
    );
    join_node(address_of(&location), viewer, &offer)
}

/// Joins `node` directly with `viewer`'s `offer` and starts the viewer.
fn join_node(node: SocketAddr, mut viewer: RecordingViewer, offer: &str) -> RunningViewer {
    let sdp = [("Content-Type", "application/sdp")];
    let answered = http::request(
        node,
        "POST",
        &format!("/whep/endpoint/{CHANNEL}"),
        &sdp,
        offer.as_bytes(),
    );
    assert_eq!(answered.status, 201, "{}", answered.body);
    // Absolute, on the node: clients that followed a redirect resolve it alike.
    let resource = answered.header("location").unwrap().to_owned();
    assert!(
        resource.starts_with(&format!("http://{node}/whep/resource/")),
        "{resource}"
    );
    viewer.accept_answer(&answered.body).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ask_keyframe = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, ask_keyframe) = (Arc::clone(&stop), Arc::clone(&ask_keyframe));
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Acquire) && Instant::now() < deadline {
                viewer.run(Duration::from_millis(20), |_| false);
                if viewer.connected_at.is_some() && ask_keyframe.swap(false, Ordering::AcqRel) {
                    viewer.request_keyframe();
                }
            }
            viewer
        })
    };
    RunningViewer {
        node,
        thread,
        stop,
        ask_keyframe,
        resource,
    }
}

/// Sends the clip from packet `first` on at real time, answering NACKs.
fn send_rest(publisher: &FtlPublisher, video: &[MediaPacket], audio: &[Vec<u8>], first: usize) {
    let mut pacer = ClipPacer::new(video, first);
    while pacer.send_due(publisher, video, audio, |_| false) {
        pacer.answer_nacks(publisher, video);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Viewers the node's workers hold (relays and publishers included).
fn peers_on(node: &Node) -> usize {
    node.engine()
        .stats(Duration::from_secs(1))
        .iter()
        .map(|worker| worker.viewers)
        .sum()
}

/// The stream's viewers on `node`, or `None` if it does not hold it.
fn viewers_on(node: &Node) -> Option<usize> {
    node.engine().stream(CHANNEL).map(|s| s.viewers())
}

fn path(nodes: &[&str]) -> Vec<String> {
    nodes.iter().map(|n| (*n).to_owned()).collect()
}

/// Publishes the clip's first frame on `origin` and waits until the
/// orchestrator knows the stream is there.
fn publish_first_frame(origin: &Node, orchestrator: SocketAddr) -> (FtlPublisher, usize) {
    let key = origin.service().example_stream_key(CHANNEL).unwrap();
    let publisher = clients::ftl_publisher(origin.ftl_addr(), &key).expect("FTL handshake");
    let first = publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(origin);
    wait_for(Duration::from_secs(5), "the stream registered", || {
        holders(orchestrator, CHANNEL) == [("a".to_owned(), true, path(&["a"]))]
    });
    (publisher, first)
}

/// Streams the rest of the clip, ends the stream, and checks that the
/// edges' relays and viewers end and the registry forgets the stream; then
/// that each viewer got every video packet byte for byte.
fn finish_stream(
    publisher: FtlPublisher,
    first: usize,
    edges: &[&Node],
    viewers: Vec<RunningViewer>,
    orchestrator: SocketAddr,
) {
    let video = h264_clip();
    let audio = opus_packets();
    send_rest(&publisher, &video, &audio, first);
    std::thread::sleep(Duration::from_millis(700));
    let _ = publisher.disconnect();
    for edge in edges {
        wait_for(Duration::from_secs(10), "the edge's relay to end", || {
            viewers_on(edge).is_none()
        });
        wait_for(Duration::from_secs(10), "the edge's viewers to end", || {
            peers_on(edge) == 0
        });
    }
    wait_for(
        Duration::from_secs(5),
        "the registry to forget the stream",
        || holders(orchestrator, CHANNEL).is_empty(),
    );
    let sent: Vec<Vec<u8>> = video.iter().map(|p| p.payload.clone()).collect();
    for viewer in viewers {
        let viewer = viewer.finish();
        let got = viewer.video_payloads_in_order();
        assert_eq!(
            got.len(),
            sent.len(),
            "every video packet came through the relay"
        );
        assert_eq!(
            got.iter().zip(&sent).position(|(a, b)| a != b),
            None,
            "relayed video differs from what was published"
        );
        assert!(
            viewer.audio().len() >= audio.len() - 5,
            "audio came through: {} of {}",
            viewer.audio().len(),
            audio.len()
        );
    }
}

#[test]
fn an_edge_relays_the_origin_stream_and_dead_nodes_expire() {
    let orchestrator = start_orchestrator(Store::Memory);
    let o = orchestrator.address();
    let a = start_member(&[o], "a", "us");
    let b = start_member(&[o], "b", "eu");
    let c = spawn_member(&[o], "c", "eu");
    wait_for(Duration::from_secs(10), "three nodes registered", || {
        node_ids(o) == ["a", "b", "c"]
    });

    // Nothing is live yet: viewers get 404, not a redirect.
    let nowhere = http::request(o, "POST", "/whep/endpoint/999", &[], b"");
    assert_eq!(nowhere.status, 404, "{}", nowhere.body);

    let (publisher, first) = publish_first_frame(&a, o);

    // Two eu viewers at once are sent to an eu node (b and c are equally
    // idle; b wins the tie by id), which sets up one relay from a for both.
    let joining: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || join_via(o, "eu")))
        .collect();
    let mut viewers: Vec<RunningViewer> = joining.into_iter().map(|j| j.join().unwrap()).collect();
    assert!(viewers.iter().all(|v| v.node == b.http_addr()));
    wait_for(Duration::from_secs(5), "the relay registered", || {
        holders(o, CHANNEL)
            == [
                ("a".to_owned(), true, path(&["a"])),
                ("b".to_owned(), false, path(&["a", "b"])),
            ]
    });
    // A third eu viewer goes to b, which now holds the stream, and shares
    // its one upstream session.
    viewers.push(join_via(o, "eu"));
    assert_eq!(viewers[2].node, b.http_addr());
    assert_eq!(viewers_on(&a), Some(1), "one upstream session from b to a");
    assert_eq!(viewers_on(&b), Some(3));
    // A viewer with no region goes to the origin itself, the less loaded
    // holder once the orchestrator has heard b's three viewers.
    wait_for(Duration::from_secs(10), "b's viewers reported", || {
        reported_viewers(o).contains(&("b".to_owned(), 3))
    });
    let at_origin = http::request(o, "POST", &format!("/whep/endpoint/{CHANNEL}"), &[], b"");
    assert_eq!(at_origin.status, 307);
    assert!(
        at_origin
            .header("location")
            .unwrap()
            .starts_with(&format!("http://{}/", a.http_addr()))
    );

    // A node killed without a word expires from the registry.
    c.kill();
    wait_for(TTL * 3, "the killed node to expire", || {
        node_ids(o) == ["a", "b"]
    });

    finish_stream(publisher, first, &[&b], viewers, o);
    b.stop();
    a.stop();
    orchestrator.stop();
}

/// Keyframe requests the node's workers received from their viewers.
fn keyframe_requests_on(node: &Node) -> u64 {
    node.engine()
        .stats(Duration::from_secs(1))
        .iter()
        .map(|worker| worker.keyframe_requests)
        .sum()
}

#[test]
fn relays_chain_refuse_loops_carry_keyframe_requests_and_close_when_idle() {
    let orchestrator = start_orchestrator(Store::Memory);
    let o = orchestrator.address();
    let a = start_member(&[o], "a", "us");
    let b = start_member(&[o], "b", "eu");
    let d = start_member(&[o], "d", "eu");
    wait_for(Duration::from_secs(10), "three nodes registered", || {
        node_ids(o) == ["a", "b", "d"]
    });
    let (publisher, first) = publish_first_frame(&a, o);
    let at_b = join_via(o, "eu");
    assert_eq!(at_b.node, b.http_addr());
    // d holds nothing; it pulls from the nearest holder, b in its own region.
    let (viewer, offer) = clients::viewer();
    let at_d = join_node(d.http_addr(), viewer, &offer);
    wait_for(
        Duration::from_secs(5),
        "the chained relay registered",
        || {
            holders(o, CHANNEL)
                == [
                    ("a".to_owned(), true, path(&["a"])),
                    ("b".to_owned(), false, path(&["a", "b"])),
                    ("d".to_owned(), false, path(&["a", "b", "d"])),
                ]
        },
    );
    assert_eq!(viewers_on(&a), Some(1), "only b pulls from the origin");
    assert_eq!(viewers_on(&b), Some(2), "b's viewer and d's relay");

    // A relay request that already came through b is a loop.
    let bearer = format!("Bearer {}", common::cluster::SECRET);
    let (_, loop_offer) = clients::viewer();
    let looped = http::request(
        b.http_addr(),
        "POST",
        &format!("/whep/endpoint/{CHANNEL}"),
        &[
            ("Content-Type", "application/sdp"),
            ("Authorization", bearer.as_str()),
            ("X-Waveguide-Relay-Via", "d,b"),
        ],
        loop_offer.as_bytes(),
    );
    assert_eq!(looped.status, 508, "{}", looped.body);

    // A viewer's own via header is ignored: only nodes (with the secret) say
    // where a relay request came through.
    let (_, plain_offer) = clients::viewer();
    let plain = http::request(
        b.http_addr(),
        "POST",
        &format!("/whep/endpoint/{CHANNEL}"),
        &[
            ("Content-Type", "application/sdp"),
            ("X-Waveguide-Relay-Via", "b"),
        ],
        plain_offer.as_bytes(),
    );
    assert_eq!(plain.status, 201, "{}", plain.body);
    let plain_resource = plain.header("location").unwrap().to_owned();
    let plain_path = plain_resource.trim_start_matches(&format!("http://{}", b.http_addr()));
    assert_eq!(
        http::request(b.http_addr(), "DELETE", plain_path, &[], b"").status,
        200
    );

    // A keyframe request from d's viewer travels d → b → a: once the joins'
    // own requests are past the 500 ms limit, each hop counts one more.
    std::thread::sleep(Duration::from_millis(1200));
    let (before_b, before_a) = (keyframe_requests_on(&b), keyframe_requests_on(&a));
    at_d.ask_keyframe.store(true, Ordering::Release);
    wait_for(
        Duration::from_secs(5),
        "the keyframe request to reach b",
        || keyframe_requests_on(&b) > before_b,
    );
    wait_for(
        Duration::from_secs(5),
        "the keyframe request to reach a",
        || keyframe_requests_on(&a) > before_a,
    );

    // d's viewer leaves: after the grace period d's relay closes, and b
    // and the origin carry on.
    let gone = at_d
        .resource
        .trim_start_matches(&format!("http://{}", d.http_addr()));
    let deleted = http::request(d.http_addr(), "DELETE", gone, &[], b"");
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let _ = at_d.finish();
    wait_for(Duration::from_secs(5), "d's idle relay to close", || {
        viewers_on(&d).is_none() && viewers_on(&b) == Some(1)
    });
    wait_for(
        Duration::from_secs(5),
        "the registry to forget d's copy",
        || holders(o, CHANNEL).len() == 2,
    );

    finish_stream(publisher, first, &[&b], vec![at_b], o);
    d.stop();
    b.stop();
    a.stop();
    orchestrator.stop();
}

#[test]
fn two_orchestrators_share_a_redis_registry_and_one_may_die() {
    let redis = RedisServer::start();
    let first = start_orchestrator(Store::Redis(redis.url.clone()));
    let o1 = first.address();
    let (second, o2) = spawn_orchestrator(&redis.url);
    // Nodes report to the second first, and fail over to the first.
    let a = start_member(&[o2, o1], "a", "us");
    let b = start_member(&[o2, o1], "b", "eu");
    // c is in another region, so no viewer is sent to it.
    let c = spawn_member(&[o2, o1], "c", "ap");
    wait_for(
        Duration::from_secs(10),
        "both orchestrators see all nodes",
        || node_ids(o1) == ["a", "b", "c"] && node_ids(o2) == ["a", "b", "c"],
    );
    let (publisher, first_packet) = publish_first_frame(&a, o1);
    let first_viewer = join_via(o2, "eu");
    assert_eq!(first_viewer.node, b.http_addr());

    second.kill();
    // The survivor answers from the same registry, and the nodes' reports
    // reach it: after several TTLs both nodes and the relay are still known.
    let second_viewer = join_via(o1, "eu");
    assert_eq!(second_viewer.node, b.http_addr());
    assert_eq!(viewers_on(&a), Some(1), "one upstream session from b to a");
    std::thread::sleep(TTL * 2);
    assert_eq!(node_ids(o1), ["a", "b", "c"]);
    assert_eq!(holders(o1, CHANNEL).len(), 2);
    // A node killed without a word expires from the shared registry too.
    c.kill();
    wait_for(TTL * 3, "the killed node to expire", || {
        node_ids(o1) == ["a", "b"]
    });

    finish_stream(
        publisher,
        first_packet,
        &[&b],
        vec![first_viewer, second_viewer],
        o1,
    );
    b.stop();
    a.stop();
    first.stop();
}

#[test]
fn whip_publishers_are_redirected_to_a_node_and_publish_there() {
    let orchestrator = start_orchestrator(Store::Memory);
    let o = orchestrator.address();
    let a = start_member(&[o], "a", "eu");
    wait_for(Duration::from_secs(10), "the node registered", || {
        node_ids(o) == ["a"]
    });
    let key = a.service().example_stream_key("77").unwrap();
    let bearer = format!("Bearer {key}");
    let (mut publisher, offer) = clients::whip_publisher();
    let headers = [
        ("Content-Type", "application/sdp"),
        ("Authorization", bearer.as_str()),
    ];
    let asked = http::request(o, "POST", "/whip/endpoint/77", &headers, offer.as_bytes());
    assert_eq!(asked.status, 307, "{}", asked.body);
    let location = asked.header("location").unwrap();
    assert_eq!(
        location,
        format!("http://{}/whip/endpoint/77", a.http_addr())
    );
    // The client re-sends the same POST (method, body, credentials) there.
    let answered = http::request(
        address_of(location),
        "POST",
        "/whip/endpoint/77",
        &headers,
        offer.as_bytes(),
    );
    assert_eq!(answered.status, 201, "{}", answered.body);
    let resource = answered.header("location").unwrap().to_owned();
    assert!(
        resource.starts_with(&format!("http://{}/whip/resource/", a.http_addr())),
        "{resource}"
    );
    publisher.accept_answer(&answered.body).unwrap();
    publisher.run(Duration::from_secs(10), |p| p.is_connected());
    assert!(publisher.is_connected());
    for packet in h264_clip().iter().take(40) {
        publisher
            .send_video(packet.timestamp, packet.marker, &packet.payload)
            .unwrap();
    }
    wait_for(Duration::from_secs(5), "the WHIP stream registered", || {
        holders(o, "77") == [("a".to_owned(), true, path(&["a"]))]
    });

    // The seed's path carries the key itself, so it survives any client's
    // redirect handling.
    let seed_key = a.service().example_stream_key("78").unwrap();
    let (_seed_publisher, seed_offer) = clients::whip_publisher();
    let sdp = [("Content-Type", "application/sdp")];
    let seed_path = format!("/whip/stream/{seed_key}");
    let asked = http::request(o, "POST", &seed_path, &sdp, seed_offer.as_bytes());
    assert_eq!(asked.status, 307, "{}", asked.body);
    assert_eq!(
        asked.header("location").unwrap(),
        format!("http://{}{seed_path}", a.http_addr())
    );
    let answered = http::request(
        a.http_addr(),
        "POST",
        &seed_path,
        &sdp,
        seed_offer.as_bytes(),
    );
    assert_eq!(answered.status, 201, "{}", answered.body);
    let wrong_key = http::request(
        a.http_addr(),
        "POST",
        "/whip/stream/78-not-the-key",
        &sdp,
        seed_offer.as_bytes(),
    );
    assert_eq!(wrong_key.status, 401, "{}", wrong_key.body);

    // Ending the publisher ends the stream, and the registry forgets it.
    let resource_path = resource.trim_start_matches(&format!("http://{}", a.http_addr()));
    let deleted = http::request(a.http_addr(), "DELETE", resource_path, &[], b"");
    assert_eq!(deleted.status, 200);
    wait_for(Duration::from_secs(5), "the registry to forget 77", || {
        holders(o, "77").is_empty()
    });
    a.stop();
    orchestrator.stop();
}

#[test]
fn node_calls_need_the_secret_and_well_formed_reports() {
    let orchestrator = start_orchestrator(Store::Memory);
    let o = orchestrator.address();
    let report = r#"{"id":"x","region":"","url":"http://127.0.0.1:1","capacity":1,"streams":0,"viewers":0,"egress_bps":0,"cpu":0.0}"#;
    let json = ("Content-Type", "application/json");
    let refused = http::request(
        o,
        "POST",
        "/v1/nodes/x/heartbeat",
        &[json],
        report.as_bytes(),
    );
    assert_eq!(refused.status, 401, "{}", refused.body);
    let wrong = http::request(
        o,
        "POST",
        "/v1/nodes/x/heartbeat",
        &[json, ("Authorization", "Bearer wrong")],
        report.as_bytes(),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(node_ids(o).is_empty());
    let bearer = format!("Bearer {}", common::cluster::SECRET);
    let accepted = http::request(
        o,
        "POST",
        "/v1/nodes/x/heartbeat",
        &[json, ("Authorization", bearer.as_str())],
        report.as_bytes(),
    );
    assert_eq!(accepted.status, 204, "{}", accepted.body);
    assert_eq!(node_ids(o), ["x"]);

    // Malformed reports get a clear 4xx and change nothing.
    let authorized = [json, ("Authorization", bearer.as_str())];
    let huge = format!("{{\"id\":\"{}\"}}", "y".repeat(70 * 1024));
    let stream_report = r#"{"node":"x","url":"http://127.0.0.1:1","origin":true,"path":["someone-else"],"viewers":0}"#;
    for (path, body, status) in [
        ("/v1/nodes/x/heartbeat", "not json", 400),
        ("/v1/nodes/x/heartbeat", r#"{"id":"x"}"#, 422),
        ("/v1/nodes/y/heartbeat", report, 400),
        ("/v1/nodes/y/heartbeat", huge.as_str(), 413),
        ("/v1/streams/1/start", stream_report, 400),
    ] {
        let refused = http::request(o, "POST", path, &authorized, body.as_bytes());
        assert_eq!(
            refused.status,
            status,
            "{path} {}: {}",
            &body[..body.len().min(40)],
            refused.body
        );
        assert!(!refused.body.trim().is_empty(), "a reason is given");
    }
    let bad_url = report.replace("http://127.0.0.1:1", "ftp://x");
    let refused = http::request(
        o,
        "POST",
        "/v1/nodes/x/heartbeat",
        &authorized,
        bad_url.as_bytes(),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(node_ids(o), ["x"]);
    assert!(holders(o, "1").is_empty());
    orchestrator.stop();
}

#[test]
fn a_single_node_answers_the_registry_api_itself() {
    let node = common::start_node(1);
    let id = node.http_addr().to_string();
    let nodes = common::cluster::get_json(node.http_addr(), "/v1/nodes");
    assert_eq!(nodes[0]["id"], id.as_str());
    assert_eq!(nodes[0]["url"], format!("http://{id}"));
    assert_eq!(nodes[0]["streams"], 0);
    assert!(holders(node.http_addr(), CHANNEL).is_empty());
    let key = node.service().example_stream_key(CHANNEL).unwrap();
    let publisher = clients::ftl_publisher(node.ftl_addr(), &key).expect("FTL handshake");
    publisher.send_first_frame(&h264_clip());
    publisher.wait_until_watchable(&node);
    assert_eq!(
        holders(node.http_addr(), CHANNEL),
        [(id.clone(), true, vec![id.clone()])]
    );
    let nodes = common::cluster::get_json(node.http_addr(), "/v1/nodes");
    assert_eq!(nodes[0]["streams"], 1);
    let missing = http::request(node.http_addr(), "GET", "/v1/streams/999", &[], b"");
    assert_eq!(missing.status, 404);
    drop(publisher);
    node.stop();
}

#[test]
fn an_origin_without_a_keyframe_yet_makes_the_edge_answer_503() {
    let orchestrator = start_orchestrator(Store::Memory);
    let o = orchestrator.address();
    let a = start_member(&[o], "a", "us");
    let b = start_member(&[o], "b", "eu");
    wait_for(Duration::from_secs(10), "two nodes registered", || {
        node_ids(o) == ["a", "b"]
    });
    // Connected and registered, but no media yet: the origin says 503.
    let key = a.service().example_stream_key(CHANNEL).unwrap();
    let publisher = clients::ftl_publisher(a.ftl_addr(), &key).expect("FTL handshake");
    wait_for(Duration::from_secs(5), "the stream registered", || {
        holders(o, CHANNEL).len() == 1
    });
    let (_, offer) = clients::viewer();
    let refused = http::request(
        b.http_addr(),
        "POST",
        &format!("/whep/endpoint/{CHANNEL}"),
        &[("Content-Type", "application/sdp")],
        offer.as_bytes(),
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("1"));
    // The failed relay left nothing behind on b.
    assert_eq!(viewers_on(&b), None);
    wait_for(Duration::from_secs(5), "b's relay slot to be freed", || {
        peers_on(&b) == 0
    });
    assert_eq!(holders(o, CHANNEL).len(), 1);
    drop(publisher);
    b.stop();
    a.stop();
    orchestrator.stop();
}

#[test]
fn a_cluster_speaks_https_end_to_end() {
    let (certified, tls, dir) = common::self_signed("127.0.0.1", "cluster-tls");
    let cert = tls.cert.clone();
    let orchestrator =
        waveguide::orchestrator::Orchestrator::start(waveguide::orchestrator::OrchestratorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            secret: common::cluster::SECRET.into(),
            node_ttl: TTL,
            stream_ttl: TTL,
            tls: Some(tls.clone()),
            ..Default::default()
        })
        .unwrap();
    let o = orchestrator.address();
    let member = |id: &str, region: &str| {
        let cluster = waveguide::cluster::ClusterConfig {
            orchestrators: vec![format!("https://{o}")],
            secret: common::cluster::SECRET.into(),
            node_id: Some(id.into()),
            region: region.into(),
            public_url: None,
            capacity: 100,
            heartbeat: common::cluster::HEARTBEAT,
            timeout: Duration::from_secs(2),
            ca_file: Some(cert.clone()),
        };
        common::start_node_with(1, |node| {
            node.cluster = Some(cluster);
            node.tls = Some(tls.clone());
            node.engine.ftl_media_timeout = Duration::from_secs(20);
        })
    };
    let a = member("a", "us");
    let b = member("b", "eu");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let nodes = || -> Vec<String> {
        let list: serde_json::Value = client
            .get(format!("https://{o}/v1/nodes"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["url"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_for(
        Duration::from_secs(10),
        "both nodes registered over HTTPS",
        || nodes().len() == 2,
    );
    assert!(nodes().iter().all(|url| url.starts_with("https://")));

    let key = a.service().example_stream_key(CHANNEL).unwrap();
    let publisher = clients::ftl_publisher(a.ftl_addr(), &key).expect("FTL handshake");
    let video = h264_clip();
    let first = publisher.send_first_frame(&video);
    publisher.wait_until_watchable(&a);
    let (mut viewer, offer) = clients::viewer();
    let mut asked = None;
    wait_for(
        Duration::from_secs(5),
        "the orchestrator to know the stream",
        || {
            let response = client
                .post(format!("https://{o}/whep/endpoint/{CHANNEL}?region=eu"))
                .header("Content-Type", "application/sdp")
                .body(offer.clone())
                .send()
                .unwrap();
            let redirected = response.status() == reqwest::StatusCode::TEMPORARY_REDIRECT;
            if redirected {
                asked = Some(response);
            }
            redirected
        },
    );
    let location = asked.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        location,
        format!("https://{}/whep/endpoint/{CHANNEL}", b.http_addr())
    );
    // b relays from a over HTTPS.
    let answered = client
        .post(&location)
        .header("Content-Type", "application/sdp")
        .body(offer)
        .send()
        .unwrap();
    assert_eq!(answered.status(), reqwest::StatusCode::CREATED);
    viewer.accept_answer(&answered.text().unwrap()).unwrap();
    viewer.run(Duration::from_secs(10), |v| v.video().len() >= first);
    assert_eq!(
        viewer.video().len(),
        first,
        "the first frame came through the relay"
    );
    assert_eq!(viewers_on(&a), Some(1));
    drop(publisher);
    b.stop();
    a.stop();
    orchestrator.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn orchestrators_answer_503_while_redis_is_down_and_recover_when_it_returns() {
    let redis = RedisServer::start();
    let port = redis.port;
    let orchestrator = start_orchestrator(Store::Redis(redis.url.clone()));
    let o = orchestrator.address();
    let a = start_member(&[o], "a", "us");
    wait_for(Duration::from_secs(10), "the node registered", || {
        node_ids(o) == ["a"]
    });
    drop(redis);
    let down = http::request(o, "GET", "/v1/nodes", &[], b"");
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.header("retry-after"), Some("1"));
    let redirect = http::request(o, "POST", "/whep/endpoint/1", &[], b"");
    assert_eq!(redirect.status, 503, "{}", redirect.body);
    // A new, empty Redis on the same port: the next heartbeats fill it.
    let _redis = RedisServer::start_on(port);
    wait_for(Duration::from_secs(15), "the node registered again", || {
        let answer = http::request(o, "GET", "/v1/nodes", &[], b"");
        answer.status == 200 && answer.body.contains("\"id\":\"a\"")
    });
    a.stop();
    orchestrator.stop();
}
