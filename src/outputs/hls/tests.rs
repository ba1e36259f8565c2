//! The `/hls/` routes over a real socket (the node's own server spawn,
//! with its slow-loris guards), fed synthetic CMAF parts through the real
//! sink. Only the origin is stood in for: a channel → `engine::Stream`
//! map, a fixed viewer token, and the packager's `attach` capturing the
//! sink so a test delivers events itself.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use engine::Stream;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{FIRST_SEGMENT_WAIT, HlsOutput, HlsSettings, Origin, router};
use crate::outputs::packager::{InitSegment, PackagerEvent, PackagerSink, Part};

#[derive(Default)]
struct FakeState {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    sinks: Mutex<Vec<(String, Box<dyn PackagerSink>)>>,
    attached: Mutex<usize>,
    /// When set, only this token may watch.
    token: Option<String>,
}

struct Fake(Arc<FakeState>);

impl Origin for Fake {
    fn live(&self, channel: &str) -> Option<Arc<Stream>> {
        self.0.streams.lock().get(channel).cloned()
    }

    fn authorize(
        &self,
        _channel: String,
        token: Option<String>,
    ) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let allowed = self.0.token.is_none() || self.0.token == token;
        Box::pin(async move { allowed })
    }

    fn attach(&self, stream: &Arc<Stream>, sink: Box<dyn PackagerSink>) {
        *self.0.attached.lock() += 1;
        self.0
            .sinks
            .lock()
            .push((stream.channel().to_owned(), sink));
    }
}

struct Harness {
    hls: Arc<HlsOutput>,
    fake: Arc<FakeState>,
    addr: SocketAddr,
}

fn settings() -> HlsSettings {
    HlsSettings {
        segment_target: Duration::from_millis(200),
        part_target: Duration::from_millis(100),
        ..HlsSettings::default()
    }
}

impl Harness {
    fn start(settings: HlsSettings, token: Option<&str>) -> Self {
        Self::start_waiting(settings, token, FIRST_SEGMENT_WAIT)
    }

    /// [`Self::start`], with playlist requests waiting `first_segment_wait`
    /// for a window's first segment.
    fn start_waiting(
        settings: HlsSettings,
        token: Option<&str>,
        first_segment_wait: Duration,
    ) -> Self {
        let fake = Arc::new(FakeState {
            token: token.map(str::to_owned),
            ..FakeState::default()
        });
        let hls = HlsOutput::with_origin(
            Box::new(Fake(Arc::clone(&fake))),
            settings,
            first_segment_wait,
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        crate::net::server::spawn_server(
            &tokio::runtime::Handle::current(),
            listener,
            router(Arc::clone(&hls)),
            crate::net::server::HEADER_TIMEOUT,
            None,
        );
        Self { hls, fake, addr }
    }

    fn publish(&self, channel: &str, id: u64) {
        let stream = Arc::new(Stream::new(id, channel.to_owned(), None, None));
        self.fake.streams.lock().insert(channel.to_owned(), stream);
    }

    /// Delivers `event` to every sink of `channel`, as a packager would
    /// (dropping those that detach); how many took it.
    fn feed(&self, channel: &str, event: &PackagerEvent) -> usize {
        let mut sinks = self.fake.sinks.lock();
        sinks.retain_mut(|(of, sink)| of != channel || sink.deliver(event));
        sinks.iter().filter(|(of, _)| of == channel).count()
    }

    /// Feeds an init and `segments` segments of `parts` parts each,
    /// starting at segment `from` (part bytes say `<segment>.<part>`).
    fn feed_segments(&self, channel: &str, from: usize, segments: usize, parts: usize) {
        if from == 0 {
            self.feed(channel, &init());
        }
        for s in from..from + segments {
            for p in 0..parts {
                self.feed(channel, &part(&format!("{s}.{p};"), p == 0));
            }
        }
    }

    /// Publishes `channel` as stream `id`, opens its window with a first
    /// request, feeds it (see [`Self::feed_segments`]) and checks the
    /// first request was answered.
    async fn open(&self, channel: &str, id: u64, segments: usize, parts: usize) {
        self.publish(channel, id);
        let first = spawn_get(self.addr, format!("/hls/{channel}/index.m3u8"));
        self.wait_held(1).await;
        self.feed_segments(channel, 0, segments, parts);
        let reply = first.await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
    }

    async fn get(&self, path: &str) -> Reply {
        get(self.addr, path, &[]).await
    }

    /// Waits until `count` requests are held (or fails after 10 s).
    async fn wait_held(&self, count: usize) {
        for _ in 0..1000 {
            if self.hls.metrics().blocked_now == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("held: {} not {count}", self.hls.metrics().blocked_now);
    }

    /// The window's tag, from its playlist's first URI.
    async fn tag(&self, channel: &str) -> String {
        let reply = self.get(&format!("/hls/{channel}/index.m3u8")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let start = reply.body.find("URI=\"").unwrap() + 5;
        let end = start + reply.body[start..].find('/').unwrap();
        reply.body[start..end].to_owned()
    }
}

fn init() -> PackagerEvent {
    PackagerEvent::Init(Arc::new(InitSegment {
        bytes: Bytes::from_static(b"INIT"),
        codecs: "avc1.64001f,opus".into(),
        resolution: Some((1280, 720)),
    }))
}

fn part(name: &str, starts: bool) -> PackagerEvent {
    PackagerEvent::Part(Arc::new(Part {
        bytes: Bytes::from(name.to_owned()),
        duration: Duration::from_millis(100),
        independent: starts,
        starts_segment: starts,
        discontinuity: false,
        program_date_time: SystemTime::now(),
    }))
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One `GET` on its own connection, read to the end.
async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_reply(stream).await
}

fn spawn_get(addr: SocketAddr, path: impl Into<String>) -> tokio::task::JoinHandle<Reply> {
    let path = path.into();
    tokio::spawn(async move { get(addr, &path, &[]).await })
}

async fn read_reply(mut stream: TcpStream) -> Reply {
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("a reply within 20 s")
        .unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_channel_is_404_with_a_reason() {
    let harness = Harness::start(settings(), None);
    let reply = harness.get("/hls/nobody/index.m3u8").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, "no live stream on this channel here\n");
    assert_eq!(reply.header("cache-control"), Some("public, max-age=1"));
    let reply = harness.get("/hls/nobody/1-2/seg-0.m4s").await;
    assert_eq!(reply.status, 404);
    assert_eq!(*harness.fake.attached.lock(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_values_are_400_before_anything_else() {
    let harness = Harness::start(settings(), None);
    for query in [
        "_HLS_part=1",
        "_HLS_msn=x",
        "_HLS_msn=-1",
        "_HLS_msn=1&_HLS_msn=1",
        "_HLS_msn=99999999999999999999",
        "_HLS_msn=1&_HLS_skip=maybe",
    ] {
        let reply = harness
            .get(&format!("/hls/nobody/index.m3u8?{query}"))
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert_eq!(reply.body.lines().count(), 1, "{query}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_waits_for_a_segment() {
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let pending = tokio::spawn(get(
        harness.addr,
        "/hls/c/index.m3u8",
        &[("Origin", "http://other")],
    ));
    harness.wait_held(1).await;
    assert_eq!(*harness.fake.attached.lock(), 1);
    harness.feed_segments("c", 0, 1, 2);
    // One segment is open, none complete: still held.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!pending.is_finished());
    harness.feed("c", &part("1.0;", true));
    let reply = pending.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("cache-control"), Some("public, max-age=1"));
    assert!(reply.body.starts_with("#EXTM3U\n"), "{}", reply.body);
    assert!(reply.body.contains("#EXTINF:0.200,\n"), "{}", reply.body);
    assert!(
        reply.body.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""),
        "{}",
        reply.body
    );
    // Later requests share the window: no second attach.
    assert_eq!(harness.get("/hls/c/index.m3u8").await.status, 200);
    assert_eq!(*harness.fake.attached.lock(), 1);
    assert_eq!(harness.hls.metrics().windows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_segments_gets_503_after_the_first_segment_wait() {
    let harness = Harness::start_waiting(settings(), None, Duration::from_secs(1));
    harness.publish("c", 1);
    let started = std::time::Instant::now();
    let reply = harness.get("/hls/c/index.m3u8").await;
    let waited = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(harness.hls.metrics().blocked_timeouts, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_request_outwaits_a_slow_first_keyframe() {
    // Three segment targets are 600 ms; the first segment takes 1.2 s, as
    // an 8.3 s keyframe interval does against a 2 s target.
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    harness.feed_segments("c", 0, 1, 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!first.is_finished(), "still held");
    harness.feed("c", &part("1.0;", true));
    let reply = first.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(harness.hls.metrics().blocked_timeouts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_reload_is_released_when_its_part_lands() {
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    harness.feed_segments("c", 0, 2, 2);
    assert_eq!(first.await.unwrap().status, 200);
    // Segment 1 is open with parts 0 and 1; ask for part 2.
    let held = spawn_get(harness.addr, "/hls/c/index.m3u8?_HLS_msn=1&_HLS_part=2");
    harness.wait_held(1).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!held.is_finished());
    harness.feed("c", &part("1.2;", false));
    let reply = tokio::time::timeout(Duration::from_secs(1), held)
        .await
        .expect("released within a second")
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("/part-1-2.m4s\"\n"), "{}", reply.body);
    assert!(
        reply.body.contains("PRELOAD-HINT:TYPE=PART,URI=\""),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("/part-1-3.m4s\"\n"), "{}", reply.body);
    // A blocking answer may be cached for six target durations.
    assert_eq!(reply.header("cache-control"), Some("public, max-age=6"));
    // What exists already is answered at once.
    let reply = harness.get("/hls/c/index.m3u8?_HLS_msn=0").await;
    assert_eq!(reply.status, 200);
    assert_eq!(harness.hls.metrics().blocked_now, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_reload_is_400_at_once_and_a_near_one_times_out() {
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    harness.feed_segments("c", 0, 2, 2);
    assert_eq!(first.await.unwrap().status, 200);
    let started = std::time::Instant::now();
    for query in ["_HLS_msn=3", "_HLS_msn=1000000", "_HLS_msn=1&_HLS_part=50"] {
        let reply = harness.get(&format!("/hls/c/index.m3u8?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    // Target duration 1 s (the least): held 3 s, then 503.
    let started = std::time::Instant::now();
    let reply = harness.get("/hls/c/index.m3u8?_HLS_msn=2").await;
    let waited = started.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_served_from_the_window() {
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    harness.feed_segments("c", 0, 2, 2);
    assert_eq!(first.await.unwrap().status, 200);
    let tag = harness.tag("c").await;
    let base = format!("/hls/c/{tag}");
    let init = harness.get(&format!("{base}/init-0.mp4")).await;
    assert_eq!((init.status, init.body.as_str()), (200, "INIT"));
    assert_eq!(init.header("content-type"), Some("video/mp4"));
    assert_eq!(
        init.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let segment = harness.get(&format!("{base}/seg-0.m4s")).await;
    assert_eq!((segment.status, segment.body.as_str()), (200, "0.0;0.1;"));
    assert_eq!(segment.header("content-type"), Some("video/iso.segment"));
    let one = harness.get(&format!("{base}/part-1-1.m4s")).await;
    assert_eq!((one.status, one.body.as_str()), (200, "1.1;"));
    // The open segment, a part that will never be, another window: 404.
    for missing in [
        "seg-1.m4s",
        "part-0-5.m4s",
        "part-3-0.m4s",
        "init-1.mp4",
        "x.m4s",
    ] {
        assert_eq!(
            harness.get(&format!("{base}/{missing}")).await.status,
            404,
            "{missing}"
        );
    }
    assert_eq!(harness.get("/hls/c/1-0/seg-0.m4s").await.status, 404);
    // The hinted part is held until it lands.
    let hinted = spawn_get(harness.addr, format!("{base}/part-1-2.m4s"));
    harness.wait_held(1).await;
    harness.feed("c", &part("1.2;", false));
    let reply = hinted.await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "1.2;"));
    // The hint may turn out to be the next segment's first part.
    let hinted = spawn_get(harness.addr, format!("{base}/part-1-3.m4s"));
    harness.wait_held(1).await;
    harness.feed("c", &part("2.0;", true));
    assert_eq!(hinted.await.unwrap().status, 404);
    // Segments slide out of the window.
    harness.feed_segments("c", 3, 8, 1);
    assert_eq!(harness.get(&format!("{base}/seg-0.m4s")).await.status, 404);
    assert_eq!(harness.get(&format!("{base}/seg-9.m4s")).await.status, 200);
    assert!(harness.hls.metrics().media_requests >= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_token_authorizes_and_is_carried_by_every_uri() {
    let harness = Harness::start(settings(), Some("s3cret"));
    harness.publish("c", 1);
    let refused = harness.get("/hls/c/index.m3u8").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        *harness.fake.attached.lock(),
        0,
        "no window for a refused viewer"
    );
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8?token=s3cret");
    harness.wait_held(1).await;
    harness.feed_segments("c", 0, 2, 2);
    let reply = first.await.unwrap();
    assert_eq!(reply.status, 200);
    let uris: Vec<&str> = reply
        .body
        .lines()
        .filter(|line| !line.starts_with('#') || line.contains("URI="))
        .collect();
    assert!(uris.len() >= 5, "{}", reply.body);
    for line in &uris {
        assert!(line.contains("?token=s3cret"), "{line}");
    }
    let segment = uris.iter().find(|line| !line.starts_with('#')).unwrap();
    assert_eq!(harness.get(&format!("/hls/c/{segment}")).await.status, 200);
    let bare = segment.split('?').next().unwrap();
    assert_eq!(harness.get(&format!("/hls/c/{bare}")).await.status, 401);
    // A Bearer header works too, and then the URIs stay bare.
    let reply = get(
        harness.addr,
        "/hls/c/index.m3u8",
        &[("Authorization", "Bearer s3cret")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(!reply.body.contains("token="), "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_requests_past_the_limit_get_503_at_once() {
    let harness = Harness::start(
        HlsSettings {
            max_blocking_requests: 3,
            ..settings()
        },
        None,
    );
    harness.open("c", 1, 2, 2).await;
    let tag = harness.tag("c").await;
    let held: Vec<_> = (0..3)
        .map(|_| spawn_get(harness.addr, "/hls/c/index.m3u8?_HLS_msn=1&_HLS_part=2"))
        .collect();
    harness.wait_held(3).await;
    let started = std::time::Instant::now();
    let refused = harness.get(&format!("/hls/c/{tag}/part-1-2.m4s")).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body, "too many held HLS requests\n");
    assert!(started.elapsed() < Duration::from_millis(500));
    // Answers that need no wait are still served.
    assert_eq!(harness.get("/hls/c/index.m3u8").await.status, 200);
    harness.feed("c", &part("1.2;", false));
    for request in held {
        assert_eq!(request.await.unwrap().status, 200);
    }
    let metrics = harness.hls.metrics();
    assert_eq!((metrics.blocked_now, metrics.blocked_refused), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_blocking_requests_are_held_then_answered() {
    const CLIENTS: usize = 1000;
    let harness = Harness::start(settings(), None);
    harness.open("c", 1, 2, 2).await;
    assert_eq!(harness.get("/hls/c/index.m3u8").await.status, 200);
    let mut connections = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let mut stream = TcpStream::connect(harness.addr).await.unwrap();
        stream
            .write_all(b"GET /hls/c/index.m3u8?_HLS_msn=1&_HLS_part=2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        connections.push(stream);
    }
    harness.wait_held(CLIENTS).await;
    // The server still answers everything else at once.
    let started = std::time::Instant::now();
    assert_eq!(harness.get("/hls/c/index.m3u8").await.status, 200);
    assert_eq!(harness.get("/hls/nobody/index.m3u8").await.status, 404);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    harness.feed("c", &part("1.2;", false));
    let replies: Vec<_> = connections
        .into_iter()
        .map(|stream| tokio::spawn(read_reply(stream)))
        .collect();
    let mut statuses = HashMap::new();
    for reply in replies {
        *statuses.entry(reply.await.unwrap().status).or_insert(0) += 1;
    }
    assert_eq!(statuses, HashMap::from([(200, CLIENTS)]));
    assert_eq!(harness.hls.metrics().blocked_now, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_window_is_dropped_and_its_sink_detaches() {
    let harness = Harness::start(
        HlsSettings {
            idle_timeout: Duration::from_millis(300),
            ..settings()
        },
        None,
    );
    harness.open("c", 1, 2, 1).await;
    let tag = harness.tag("c").await;
    assert_eq!(harness.feed("c", &part("x", false)), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(harness.feed("c", &part("y", false)), 0, "the sink detached");
    assert_eq!(harness.hls.metrics().windows, 0);
    assert_eq!(
        harness.get(&format!("/hls/c/{tag}/seg-0.m4s")).await.status,
        404
    );
    // The next request opens a new window, numbered on from the old one
    // (segment 0 complete, 1 open).
    let pending = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    assert_eq!(*harness.fake.attached.lock(), 2);
    harness.feed_segments("c", 0, 2, 1);
    let reply = pending.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(media_sequence(&reply.body), 2, "{}", reply.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_stream_releases_held_requests_and_lists_endlist() {
    let harness = Harness::start(settings(), None);
    harness.open("c", 1, 2, 2).await;
    assert_eq!(harness.get("/hls/c/index.m3u8").await.status, 200);
    let held = spawn_get(harness.addr, "/hls/c/index.m3u8?_HLS_msn=2");
    harness.wait_held(1).await;
    harness.feed("c", &PackagerEvent::Ended);
    let reply = held.await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.body.ends_with("#EXT-X-ENDLIST\n"), "{}", reply.body);
    // The engine forgets the stream; the ended window still answers.
    harness.fake.streams.lock().clear();
    let reply = harness.get("/hls/c/index.m3u8").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.contains("/seg-1.m4s\n#EXT-X-ENDLIST\n"),
        "{}",
        reply.body
    );
}

/// `playlist`'s `EXT-X-MEDIA-SEQUENCE`.
fn media_sequence(playlist: &str) -> u64 {
    playlist
        .lines()
        .find_map(|line| line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .expect("a media sequence")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stream_of_the_channel_goes_on_numbering_in_a_new_window() {
    let harness = Harness::start(settings(), None);
    harness.open("c", 1, 4, 1).await;
    let old = harness.tag("c").await;
    assert!(old.starts_with("1-"), "{old}");
    // Segments 0..=2 complete, 3 open: the next window starts at 4.
    let before = harness.get("/hls/c/index.m3u8").await.body;
    assert_eq!(media_sequence(&before), 0, "{before}");
    assert!(before.contains("/part-3-0.m4s\""), "{before}");
    harness.publish("c", 2);
    let pending = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    // The old window's sink detaches at its next event.
    harness.feed_segments("c", 0, 2, 1);
    let reply = pending.await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(media_sequence(&reply.body), 4, "{}", reply.body);
    // Its first segment follows a discontinuity, listed first: the
    // sequence is that segment's number, 1.
    assert!(
        reply.body.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
        "{}",
        reply.body
    );
    assert!(
        !reply.body.contains("#EXT-X-DISCONTINUITY\n"),
        "{}",
        reply.body
    );
    let new = harness.tag("c").await;
    assert!(new.starts_with("2-"), "{new}");
    assert_ne!(old, new);
    assert_eq!(
        harness.get(&format!("/hls/c/{old}/seg-0.m4s")).await.status,
        404
    );
    assert_eq!(
        harness.get(&format!("/hls/c/{new}/seg-4.m4s")).await.status,
        200
    );
    assert_eq!(
        harness.get(&format!("/hls/c/{new}/seg-0.m4s")).await.status,
        404
    );
    assert_eq!(harness.fake.sinks.lock().len(), 1);
}

#[test]
fn window_tags_differ_within_a_millisecond() {
    let last = std::sync::atomic::AtomicU64::new(0);
    assert_eq!(super::window_tag(7, 1_000, &last), "7-1000");
    assert_eq!(super::window_tag(7, 1_000, &last), "7-1001");
    assert_eq!(super::window_tag(8, 999, &last), "8-1002");
    assert_eq!(super::window_tag(7, 5_000, &last), "7-5000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_numbers_are_bounded_and_expire() {
    use super::window::Continuation;
    use super::{CONTINUE_FOR, MAX_CONTINUATIONS};
    let harness = Harness::start(settings(), None);
    let hls = &harness.hls;
    let at = |msn: u64| Continuation {
        next_msn: msn,
        discontinuity_sequence: 0,
        target_duration: None,
    };
    let later = CONTINUE_FOR.as_millis() as u64;
    for n in 0..MAX_CONTINUATIONS - 1 {
        hls.remember(&format!("c{n}"), at(n as u64), later + n as u64);
    }
    assert_eq!(hls.continuations.lock().len(), MAX_CONTINUATIONS - 1);
    let last = MAX_CONTINUATIONS - 1;
    hls.remember(&format!("c{last}"), at(last as u64), later + last as u64);
    assert_eq!(hls.continuations.lock().len(), MAX_CONTINUATIONS);
    // Full: the one that would expire first (c0) goes.
    hls.remember("more", at(1), later * 2);
    assert_eq!(hls.continuations.lock().len(), MAX_CONTINUATIONS);
    assert_eq!(hls.continuation("c0"), None);
    assert_eq!(hls.continuation("c1"), Some(at(1)));
    assert_eq!(hls.continuation("more"), Some(at(1)));
    // Taken once; an expired one is not given.
    assert_eq!(hls.continuation("more"), None);
    hls.remember("old", at(9), 0);
    assert_eq!(hls.continuation("old"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hls_off_every_route_says_so() {
    let harness = Harness::start(
        HlsSettings {
            enabled: false,
            ..settings()
        },
        None,
    );
    harness.publish("c", 1);
    for path in ["/hls/c/index.m3u8", "/hls/c/1-0/seg-0.m4s"] {
        let reply = get(harness.addr, path, &[("Origin", "http://other")]).await;
        assert_eq!((reply.status, reply.body.as_str()), (404, "HLS is off\n"));
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    }
    assert_eq!(*harness.fake.attached.lock(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_ends_before_its_first_segment_is_404() {
    let harness = Harness::start(settings(), None);
    harness.publish("c", 1);
    let first = spawn_get(harness.addr, "/hls/c/index.m3u8");
    harness.wait_held(1).await;
    harness.feed("c", &init());
    harness.feed("c", &PackagerEvent::Ended);
    let reply = first.await.unwrap();
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.body, "the stream ended before its first segment\n");
}
