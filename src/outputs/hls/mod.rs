//! HLS and Low-Latency HLS (RFC 8216bis): each live stream that an HLS
//! client asks for gets a window of CMAF segments and parts, fed by the
//! stream's packager, and every client is served the same bytes from it.
//!
//! ```text
//!  packager thread                 control runtime (axum)
//!  PackagerEvent ─► WindowSink ─► Window (parts → segments, playlist
//!                   (sink.rs)     rendered once per change) ─► watch
//!                                   ▲                            │
//!  GET index.m3u8 ──────────────────┴── read, or hold until ◄────┘
//!  GET <tag>/{init-N.mp4, seg-M.m4s, part-M-I.m4s}: Bytes clones
//! ```
//!
//! * `index.m3u8` is the media playlist itself, not a multivariant one:
//!   there is one rendition (nothing is transcoded), so a multivariant
//!   playlist would only cost every player a round trip; FFmpeg, Safari and
//!   hls.js all start from a media playlist.
//! * The first request for a live stream opens its window and attaches a
//!   sink to the stream's packager; a window nobody asked for in
//!   `idle_timeout` is dropped (its sink detaches at the next event), and
//!   an ended one lingers a little so players read `EXT-X-ENDLIST`.
//! * A window's URIs live under a tag naming the stream and the window's
//!   start (unique per window), so a cache never serves one stream's
//!   `seg-3.m4s` for another's and media can be `immutable`.
//! * A new window on a channel (the stream reconnected or was taken over,
//!   or the old window went idle) goes on numbering where the channel's
//!   last one stopped, with a discontinuity, so players polling
//!   `index.m3u8` never see `EXT-X-MEDIA-SEQUENCE` go back (RFC 8216
//!   §6.2.1); the last numbers are remembered for [`CONTINUE_FOR`] past an
//!   ended window's linger.
//! * A held request (blocking reload, the preload hint's part, a window
//!   that has no segment yet) waits on the window's `watch` channel, never
//!   a thread, and at most `max_blocking_requests` are held at once.

mod parts_body;
mod playlist;
pub mod query;
mod routes;
mod sink;
#[cfg(test)]
mod tests;
mod window;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::http::{Method, header};
use axum::routing::get;
use engine::Stream;
use parking_lot::Mutex;
use tokio::sync::watch;
use tower_http::cors::{Any, CorsLayer};

use self::window::{Continuation, Window, WindowSettings};
use crate::control::state::Control;
use crate::outputs::packager::{PackagerSink, Packagers, StartAt};

/// How long an allowed viewer token is trusted before the service is asked
/// again (a webhook is not called for every part a player fetches).
pub const AUTHORIZED_FOR: Duration = Duration::from_secs(10);

/// Most allowed (channel, token) pairs remembered at once; when full, the
/// expired ones go, and if none has expired, all do.
pub const MAX_AUTHORIZED: usize = 4096;

/// An ended window stays this long at least (three segment targets if
/// longer), so players polling it read `EXT-X-ENDLIST`.
pub const ENDED_LINGER: Duration = Duration::from_secs(10);

/// How long a channel's last window's numbers are remembered after it is
/// dropped, on top of an ended window's linger, for the channel's next
/// window to go on from.
pub const CONTINUE_FOR: Duration = Duration::from_secs(300);

/// Most channels whose last window's numbers are remembered at once; when
/// full, the expired ones go, and if none has expired, the one that would
/// expire first.
pub const MAX_CONTINUATIONS: usize = 4096;

/// The longest a playlist request waits for a window's first complete
/// segment (a segment ends at the next keyframe: OBS's default keyframe
/// interval is about 8.3 s), before `503` with `Retry-After`.
pub const FIRST_SEGMENT_WAIT: Duration = Duration::from_secs(20);

/// Windows are swept (idle, ended, closed ones dropped) at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How HLS is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    /// Whether `/hls/` is served.
    pub enabled: bool,
    /// A segment's target duration (segments start at keyframes).
    pub segment_target: Duration,
    /// A part's target duration (`PART-TARGET`).
    pub part_target: Duration,
    /// Complete segments a media playlist lists.
    pub window_segments: usize,
    /// A stream's window with no request for this long is dropped and its
    /// sink detaches.
    pub idle_timeout: Duration,
    /// Most blocking requests held at once; more get `503` at once.
    pub max_blocking_requests: usize,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            segment_target: Duration::from_secs(2),
            part_target: Duration::from_millis(500),
            window_segments: 6,
            idle_timeout: Duration::from_secs(30),
            max_blocking_requests: 4096,
        }
    }
}

/// HLS counters, as one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HlsMetrics {
    /// Windows open now.
    pub windows: usize,
    /// Playlist requests since start.
    pub playlist_requests: u64,
    /// Segment, part and init requests since start.
    pub media_requests: u64,
    /// Requests held now (blocking reloads, hinted parts, first segments).
    pub blocked_now: usize,
    /// Requests refused because `max_blocking_requests` were held.
    pub blocked_refused: u64,
    /// Held requests that timed out (`503`).
    pub blocked_timeouts: u64,
}

/// Where windows' media comes from: the engine's live streams, the
/// service's viewer authorization and the packagers.
trait Origin: Send + Sync + 'static {
    /// The live stream on `channel`.
    fn live(&self, channel: &str) -> Option<Arc<Stream>>;
    /// Whether a viewer holding `token` may watch `channel`.
    fn authorize(
        &self,
        channel: String,
        token: Option<String>,
    ) -> Pin<Box<dyn Future<Output = bool> + Send>>;
    /// Feeds `sink` from `stream`'s packager.
    fn attach(&self, stream: &Arc<Stream>, sink: Box<dyn PackagerSink>);
}

/// The node's engine, service and packagers.
struct NodeOrigin {
    control: Arc<Control>,
    packagers: Arc<Packagers>,
}

impl Origin for NodeOrigin {
    fn live(&self, channel: &str) -> Option<Arc<Stream>> {
        self.control.engine.stream(channel)
    }

    fn authorize(
        &self,
        channel: String,
        token: Option<String>,
    ) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let control = Arc::clone(&self.control);
        Box::pin(async move {
            control
                .service
                .authorize_viewer(&channel, token.as_deref())
                .await
        })
    }

    fn attach(&self, stream: &Arc<Stream>, sink: Box<dyn PackagerSink>) {
        self.packagers.attach(stream, StartAt::NewestKeyframe, sink);
    }
}

/// One stream's window as the routes and the sink share it.
struct Shared {
    stream_id: u64,
    /// The window's tag (the path segment its URIs live under).
    tag: String,
    window: Mutex<Window>,
    /// The window's version, sent at every change (and when closed).
    changes: watch::Sender<u64>,
    /// Dropped from the registry: its sink detaches, held requests go.
    closed: AtomicBool,
    /// Milliseconds since the output's start, at the last request.
    last_request: AtomicU64,
    /// Milliseconds since the output's start when it ended, plus one
    /// (0: live).
    ended_at: AtomicU64,
}

impl Shared {
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks it closed and wakes whoever waits on it.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.changes.send_modify(|version| *version += 1);
    }
}

#[derive(Debug, Default)]
struct Counters {
    playlist_requests: u64,
    media_requests: u64,
    blocked_now: usize,
    blocked_refused: u64,
    blocked_timeouts: u64,
}

/// HLS on this node: the windows of the streams being watched.
pub struct HlsOutput {
    origin: Box<dyn Origin>,
    settings: HlsSettings,
    /// By channel: one window per channel (a new stream replaces it).
    windows: Mutex<HashMap<String, Arc<Shared>>>,
    /// By channel: where its dropped window left off, until when (ms
    /// since `started`).
    continuations: Mutex<HashMap<String, (Continuation, u64)>>,
    /// The unix milliseconds in the newest window's tag.
    last_tag_ms: AtomicU64,
    /// How long a playlist request waits for a window's first segment.
    first_segment_wait: Duration,
    /// Allowed (channel, token) pairs, until when (ms since `started`).
    authorized: Mutex<HashMap<(String, Option<String>), u64>>,
    counters: Mutex<Counters>,
    started: Instant,
    last_sweep: AtomicU64,
}

impl HlsOutput {
    /// No window yet; windows open on the first request for a stream.
    /// Called inside a tokio runtime, it also sweeps idle and ended
    /// windows every second from a task there (else only as requests and
    /// events come).
    pub fn new(
        control: Arc<Control>,
        packagers: Arc<Packagers>,
        settings: HlsSettings,
    ) -> Arc<Self> {
        Self::with_origin(
            Box::new(NodeOrigin { control, packagers }),
            settings,
            FIRST_SEGMENT_WAIT,
        )
    }

    fn with_origin(
        origin: Box<dyn Origin>,
        settings: HlsSettings,
        first_segment_wait: Duration,
    ) -> Arc<Self> {
        let output = Arc::new(Self {
            origin,
            settings,
            windows: Mutex::new(HashMap::new()),
            continuations: Mutex::new(HashMap::new()),
            last_tag_ms: AtomicU64::new(0),
            first_segment_wait,
            authorized: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
            started: Instant::now(),
            last_sweep: AtomicU64::new(0),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&output);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    let Some(output) = weak.upgrade() else {
                        return;
                    };
                    output.sweep();
                }
            });
        }
        output
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> HlsMetrics {
        let windows = self.windows.lock().len();
        let counters = self.counters.lock();
        HlsMetrics {
            windows,
            playlist_requests: counters.playlist_requests,
            media_requests: counters.media_requests,
            blocked_now: counters.blocked_now,
            blocked_refused: counters.blocked_refused,
            blocked_timeouts: counters.blocked_timeouts,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn window_settings(&self) -> WindowSettings {
        WindowSettings {
            segment_target: self.settings.segment_target,
            part_target: self.settings.part_target,
            window_segments: self.settings.window_segments,
        }
    }

    fn ended_linger(&self) -> Duration {
        ENDED_LINGER.max(self.settings.segment_target * 3)
    }

    /// The window a playlist request for `channel` reads: the live
    /// stream's (opened now if it has none, attaching a sink), or an ended
    /// one still lingering. `None`: nothing to serve.
    fn window_for(
        self: &Arc<Self>,
        channel: &str,
        live: Option<Arc<Stream>>,
    ) -> Option<Arc<Shared>> {
        let mut windows = self.windows.lock();
        let existing = windows.get(channel).filter(|shared| !shared.is_closed());
        let Some(stream) = live else {
            return existing
                .filter(|shared| shared.ended_at.load(Ordering::Acquire) > 0)
                .cloned();
        };
        if let Some(shared) = existing.filter(|shared| shared.stream_id == stream.id()) {
            return Some(Arc::clone(shared));
        }
        if let Some(old) = windows.remove(channel) {
            self.retire(channel, &old);
        }
        let unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let tag = window_tag(stream.id(), unix_ms, &self.last_tag_ms);
        let after = self.continuation(channel);
        let window = Window::new(self.window_settings(), tag.clone(), after);
        let (changes, _) = watch::channel(window.version());
        let shared = Arc::new(Shared {
            stream_id: stream.id(),
            tag,
            window: Mutex::new(window),
            changes,
            closed: AtomicBool::new(false),
            last_request: AtomicU64::new(self.now_ms()),
            ended_at: AtomicU64::new(0),
        });
        windows.insert(channel.to_owned(), Arc::clone(&shared));
        drop(windows);
        tracing::debug!(channel, stream = stream.id(), ?after, "HLS window opened");
        // Not under the lock: a sink may hear its first events right here.
        let sink = sink::WindowSink::new(
            Arc::clone(&shared),
            Arc::downgrade(self),
            channel.to_owned(),
        );
        self.origin.attach(&stream, Box::new(sink));
        Some(shared)
    }

    /// The window `channel`'s media with `tag` lives in.
    fn window_tagged(&self, channel: &str, tag: &str) -> Option<Arc<Shared>> {
        self.windows
            .lock()
            .get(channel)
            .filter(|shared| !shared.is_closed() && shared.tag == tag)
            .cloned()
    }

    /// Drops `shared` from the registry (if still there) and closes it.
    fn drop_window(&self, shared: &Arc<Shared>, channel: &str) {
        let mut windows = self.windows.lock();
        let current = windows
            .get(channel)
            .is_some_and(|current| Arc::ptr_eq(current, shared));
        if current {
            windows.remove(channel);
        }
        drop(windows);
        if current {
            self.retire(channel, shared);
        } else {
            // Replaced already: whoever replaced it retired it.
            shared.close();
        }
    }

    /// Closes `shared`, just taken out of the registry as `channel`'s
    /// window, and remembers where it left off.
    fn retire(&self, channel: &str, shared: &Shared) {
        // Closed first: its sink checks under the window's lock, so nothing
        // is added after the numbers are read.
        shared.close();
        let continuation = shared.window.lock().continuation();
        let until = self.now_ms() + (self.ended_linger() + CONTINUE_FOR).as_millis() as u64;
        self.remember(channel, continuation, until);
    }

    /// Remembers `continuation` for `channel` until `until` (ms since
    /// `started`), within [`MAX_CONTINUATIONS`].
    fn remember(&self, channel: &str, continuation: Continuation, until: u64) {
        let now = self.now_ms();
        let mut continuations = self.continuations.lock();
        if continuations.len() >= MAX_CONTINUATIONS && !continuations.contains_key(channel) {
            continuations.retain(|_, (_, until)| *until > now);
            if continuations.len() >= MAX_CONTINUATIONS
                && let Some(first) = continuations
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(channel, _)| channel.clone())
            {
                continuations.remove(&first);
            }
        }
        continuations.insert(channel.to_owned(), (continuation, until));
    }

    /// Where `channel`'s next window goes on from (taken: one window
    /// continues it), if its last one was dropped recently enough.
    fn continuation(&self, channel: &str) -> Option<Continuation> {
        let (continuation, until) = self.continuations.lock().remove(channel)?;
        (until > self.now_ms()).then_some(continuation)
    }

    /// Drops closed, idle and long-ended windows (at most once per
    /// [`SWEEP_EVERY`]).
    fn sweep(&self) {
        let now = self.now_ms();
        let last = self.last_sweep.load(Ordering::Acquire);
        if now.saturating_sub(last) < SWEEP_EVERY.as_millis() as u64
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let idle = self.settings.idle_timeout.as_millis() as u64;
        let linger = self.ended_linger().as_millis() as u64;
        let mut gone = Vec::new();
        self.windows.lock().retain(|channel, shared| {
            let ended_at = shared.ended_at.load(Ordering::Acquire);
            let keep = !shared.is_closed()
                && now.saturating_sub(shared.last_request.load(Ordering::Acquire)) < idle
                && (ended_at == 0 || now.saturating_sub(ended_at - 1) < linger);
            if !keep {
                gone.push((channel.clone(), Arc::clone(shared)));
            }
            keep
        });
        for (channel, shared) in gone {
            tracing::debug!(channel, stream = shared.stream_id, "HLS window dropped");
            self.retire(&channel, &shared);
        }
    }

    /// Whether a viewer holding `token` may watch `channel` (asked of the
    /// service, remembered for [`AUTHORIZED_FOR`] when allowed).
    async fn authorize(&self, channel: &str, token: Option<&str>) -> bool {
        let key = (channel.to_owned(), token.map(str::to_owned));
        let now = self.now_ms();
        if self
            .authorized
            .lock()
            .get(&key)
            .is_some_and(|until| *until > now)
        {
            return true;
        }
        let allowed = self.origin.authorize(key.0.clone(), key.1.clone()).await;
        if allowed {
            let mut authorized = self.authorized.lock();
            if authorized.len() >= MAX_AUTHORIZED {
                authorized.retain(|_, until| *until > now);
                if authorized.len() >= MAX_AUTHORIZED {
                    authorized.clear();
                }
            }
            authorized.insert(key, now + AUTHORIZED_FOR.as_millis() as u64);
        }
        allowed
    }
}

/// A window's tag: its stream's id and the unix milliseconds it opened at,
/// past `last`'s (which it becomes), so two windows never share one even
/// when opened within a millisecond.
fn window_tag(stream_id: u64, unix_ms: u64, last: &AtomicU64) -> String {
    let mut ms = unix_ms;
    // The closure always returns Some.
    let _ = last.fetch_update(Ordering::AcqRel, Ordering::Acquire, |previous| {
        ms = unix_ms.max(previous.saturating_add(1));
        Some(ms)
    });
    format!("{stream_id}-{ms}")
}

/// The `/hls/` routes, with their state and CORS (GET, HEAD and OPTIONS,
/// any origin, `Authorization` allowed). When HLS is disabled they answer
/// `404 HLS is off`.
pub fn router(hls: Arc<HlsOutput>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION]);
    let routes = if hls.settings.enabled {
        Router::new()
            .route("/hls/{channel}/index.m3u8", get(routes::playlist))
            .route("/hls/{channel}/{tag}/{file}", get(routes::media))
    } else {
        Router::new()
            .route("/hls/{channel}/index.m3u8", get(routes::off))
            .route("/hls/{channel}/{tag}/{file}", get(routes::off))
    };
    routes.layer(cors).with_state(hls)
}
