//! The `/hls/` handlers: the media playlist (with blocking reload) and the
//! init segments, segments and parts, each a `Bytes` clone of the window's;
//! and the holding of requests on a window's changes.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::time::Instant;

use super::parts_body::PartsBody;
use super::query::{self, Directives};
use super::window::{Media, Reload, Window};
use super::{HlsOutput, Shared, playlist};
use crate::net::error::HttpError;
use crate::outputs::whep::bearer_token;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE: &str = "video/iso.segment";
const INIT_TYPE: &str = "video/mp4";

/// Media never changes under its URI (the window's tag names the stream).
const MEDIA_CACHE: &str = "public, max-age=31536000, immutable";
/// A 404 may turn into media soon (a new stream, a late part).
const MISSING_CACHE: &str = "public, max-age=1";
/// 400, 401, 503: about this request only.
const REFUSED_CACHE: &str = "no-store";

/// Every `/hls/` route when HLS is disabled.
pub(super) async fn off() -> Response {
    refuse(StatusCode::NOT_FOUND, "HLS is off")
}

/// `GET /hls/{channel}/index.m3u8`.
pub(super) async fn playlist(
    State(hls): State<Arc<HlsOutput>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
) -> Response {
    hls.counters.lock().playlist_requests += 1;
    let directives = match query::parse(raw_query.as_deref()) {
        Ok(directives) => directives,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let live = hls.origin.live(&channel);
    if live.is_none() && hls.window_for(&channel, None).is_none() {
        return refuse(StatusCode::NOT_FOUND, "no live stream on this channel here");
    }
    if let Err(response) = authorize(&hls, &channel, &headers, &directives).await {
        return response;
    }
    let Some(shared) = hls.window_for(&channel, live) else {
        return refuse(StatusCode::NOT_FOUND, "no live stream on this channel here");
    };
    shared.touch(&hls);
    // A window starts with nothing to list; its first segment ends at the
    // stream's next keyframe, which may be many seconds away. A blocking
    // reload is held three target durations (RFC 8216bis §6.2.5.2).
    let blocking = directives.block;
    let (ready, target) = {
        let window = shared.window.lock();
        (window.is_ready(), window.target_duration())
    };
    let mut limit = hls.settings.segment_target * 3;
    if blocking.is_some() {
        limit = limit.max(Duration::from_secs(target) * 3);
    }
    if !ready {
        limit = limit.max(hls.first_segment_wait);
    }
    let held = hold(&hls, &shared, limit, |window| {
        if let Some((msn, part)) = blocking
            && window.reload(msn, part) == Reload::TooFar
        {
            return Step::TooFar;
        }
        if !window.is_ready() {
            // Ended before its first segment: nothing will ever play.
            return if window.is_ended() {
                Step::Ended
            } else {
                Step::Wait
            };
        }
        let Some((msn, part)) = blocking else {
            return Step::Done(window.playlist());
        };
        match window.reload(msn, part) {
            Reload::Ready => Step::Done(window.playlist()),
            Reload::Wait => Step::Wait,
            Reload::TooFar => Step::TooFar,
        }
    })
    .await;
    let body = match held {
        Ok(body) => body,
        Err(Held::TooFar) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "_HLS_msn/_HLS_part is too far past the playlist's end",
            );
        }
        Err(held) => return held.into_response(),
    };
    let body = match &directives.token {
        Some(token) => playlist::with_token(&body, token),
        None => body,
    };
    let target = Duration::from_secs(shared.window.lock().target_duration());
    // A blocking request's URI names the version it waited for; caches may
    // keep it (six target durations is Apple's advice).
    let max_age = if blocking.is_some() {
        target * 6
    } else {
        hls.settings.part_target
    };
    let cache = format!("public, max-age={}", max_age.as_secs().max(1));
    bytes_response(PLAYLIST_TYPE, &cache, body)
}

/// `GET /hls/{channel}/{tag}/{file}`: `init-<n>.mp4`, `seg-<msn>.m4s`,
/// `part-<msn>-<index>.m4s`.
pub(super) async fn media(
    State(hls): State<Arc<HlsOutput>>,
    Path((channel, tag, file)): Path<(String, String, String)>,
    headers: HeaderMap,
    RawQuery(raw_query): RawQuery,
) -> Response {
    hls.counters.lock().media_requests += 1;
    let Some(name) = MediaName::parse(&file) else {
        return refuse(StatusCode::NOT_FOUND, "no such HLS file");
    };
    let directives = match query::parse(raw_query.as_deref()) {
        Ok(directives) => directives,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, error.to_string()),
    };
    let Some(shared) = hls.window_tagged(&channel, &tag) else {
        return refuse(StatusCode::NOT_FOUND, "not in a live HLS window");
    };
    if let Err(response) = authorize(&hls, &channel, &headers, &directives).await {
        return response;
    }
    shared.touch(&hls);
    let target = Duration::from_secs(shared.window.lock().target_duration());
    let held = hold(&hls, &shared, target * 3, |window| {
        match name.find(window) {
            Media::Ready(bytes) => Step::Done(Found::Whole(bytes)),
            Media::Parts(parts) => Step::Done(Found::Parts(parts)),
            Media::Hinted => Step::Wait,
            Media::Missing => Step::Missing,
        }
    })
    .await;
    match held {
        Ok(found) => {
            let content_type = match name {
                MediaName::Init(_) => INIT_TYPE,
                _ => SEGMENT_TYPE,
            };
            let body = match found {
                Found::Whole(bytes) => Body::from(bytes),
                // The window keeps only the parts; a segment is their bytes
                // one after another, copied for no one.
                Found::Parts(parts) => Body::new(PartsBody::new(parts)),
            };
            body_response(content_type, MEDIA_CACHE, body)
        }
        Err(held) => held.into_response(),
    }
}

/// A media file's bytes, as the window holds them.
enum Found {
    Whole(Bytes),
    /// A segment's parts, in order.
    Parts(Vec<Bytes>),
}

/// A media file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaName {
    Init(u64),
    Segment(u64),
    Part(u64, u64),
}

impl MediaName {
    fn parse(file: &str) -> Option<Self> {
        if let Some(number) = file
            .strip_prefix("init-")
            .and_then(|f| f.strip_suffix(".mp4"))
        {
            return Some(Self::Init(decimal(number)?));
        }
        if let Some(msn) = file
            .strip_prefix("seg-")
            .and_then(|f| f.strip_suffix(".m4s"))
        {
            return Some(Self::Segment(decimal(msn)?));
        }
        let (msn, index) = file
            .strip_prefix("part-")?
            .strip_suffix(".m4s")?
            .split_once('-')?;
        Some(Self::Part(decimal(msn)?, decimal(index)?))
    }

    fn find(self, window: &Window) -> Media {
        match self {
            Self::Init(number) => window.init(number),
            Self::Segment(msn) => window.segment(msn),
            Self::Part(msn, index) => window.part(msn, index),
        }
    }
}

/// Digits only, as this server writes them.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `401` unless the viewer (its Bearer token, else its `token` parameter)
/// may watch `channel`.
async fn authorize(
    hls: &HlsOutput,
    channel: &str,
    headers: &HeaderMap,
    directives: &Directives,
) -> Result<(), Response> {
    let token = bearer_token(headers).or(directives.token.as_deref());
    if hls.authorize(channel, token).await {
        return Ok(());
    }
    let mut error = HttpError::new(
        StatusCode::UNAUTHORIZED,
        "not allowed to watch this channel",
    );
    error.www_authenticate = true;
    Err(with_cache(error.into_response(), REFUSED_CACHE))
}

/// What a held request's check says of the window.
enum Step<T> {
    Done(T),
    Wait,
    TooFar,
    Missing,
    Ended,
}

/// Why a held request was not answered with its content.
#[derive(Debug)]
enum Held {
    /// `max_blocking_requests` are held already.
    Full,
    /// Not there within the limit.
    TimedOut,
    /// The window was dropped (its stream was replaced or went idle).
    Closed,
    TooFar,
    Missing,
    /// The stream ended with nothing to play.
    Ended,
}

impl IntoResponse for Held {
    fn into_response(self) -> Response {
        match self {
            Self::Full => with_cache(
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many held HLS requests",
                )
                .retry_after(1)
                .into_response(),
                REFUSED_CACHE,
            ),
            Self::TimedOut => with_cache(
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "not available yet")
                    .retry_after(1)
                    .into_response(),
                REFUSED_CACHE,
            ),
            Self::Closed => with_cache(
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "the HLS window closed")
                    .retry_after(1)
                    .into_response(),
                REFUSED_CACHE,
            ),
            Self::TooFar => refuse(StatusCode::BAD_REQUEST, "too far past the playlist's end"),
            Self::Missing => refuse(StatusCode::NOT_FOUND, "not in the HLS window"),
            Self::Ended => refuse(
                StatusCode::NOT_FOUND,
                "the stream ended before its first segment",
            ),
        }
    }
}

/// Runs `check` on the window until it is `Done` (or refuses), holding
/// the request on the window's changes for at most `limit` while it says
/// `Wait`. Only a request that waits counts against
/// `max_blocking_requests`.
async fn hold<T>(
    hls: &HlsOutput,
    shared: &Shared,
    limit: Duration,
    mut check: impl FnMut(&Window) -> Step<T>,
) -> Result<T, Held> {
    // Subscribed before the first check, so no change between is missed.
    let mut changes = shared.changes.subscribe();
    let mut step = |shared: &Shared| {
        if shared.is_closed() {
            return Err(Held::Closed);
        }
        match check(&shared.window.lock()) {
            Step::Done(value) => Ok(Some(value)),
            Step::Wait => Ok(None),
            Step::TooFar => Err(Held::TooFar),
            Step::Missing => Err(Held::Missing),
            Step::Ended => Err(Held::Ended),
        }
    };
    if let Some(value) = step(shared)? {
        return Ok(value);
    }
    let _held = HeldSlot::take(hls).ok_or(Held::Full)?;
    let deadline = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Err(_) => {
                hls.counters.lock().blocked_timeouts += 1;
                return Err(Held::TimedOut);
            }
            // The sender lives in `shared`, which outlives this call.
            Ok(Err(_)) => return Err(Held::Closed),
            Ok(Ok(())) => {}
        }
        if let Some(value) = step(shared)? {
            return Ok(value);
        }
    }
}

/// One of the `max_blocking_requests` slots, given back when dropped
/// (also when the client goes away and the handler future is dropped).
struct HeldSlot<'a> {
    hls: &'a HlsOutput,
}

impl<'a> HeldSlot<'a> {
    fn take(hls: &'a HlsOutput) -> Option<Self> {
        let mut counters = hls.counters.lock();
        if counters.blocked_now >= hls.settings.max_blocking_requests {
            counters.blocked_refused += 1;
            return None;
        }
        counters.blocked_now += 1;
        Some(Self { hls })
    }
}

impl Drop for HeldSlot<'_> {
    fn drop(&mut self) {
        self.hls.counters.lock().blocked_now -= 1;
    }
}

impl Shared {
    /// Counts a request: the window is not idle.
    fn touch(&self, hls: &HlsOutput) {
        self.last_request
            .store(hls.now_ms(), std::sync::atomic::Ordering::Release);
    }
}

fn bytes_response(content_type: &'static str, cache: &str, body: Bytes) -> Response {
    body_response(content_type, cache, Body::from(body))
}

fn body_response(content_type: &'static str, cache: &str, body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    response
}

/// A refusal with its one-line reason; 404s may be cached briefly.
fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    let cache = if status == StatusCode::NOT_FOUND {
        MISSING_CACHE
    } else {
        REFUSED_CACHE
    };
    with_cache(HttpError::new(status, reason).into_response(), cache)
}

fn with_cache(mut response: Response, cache: &'static str) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_names_are_exactly_ours() {
        assert_eq!(MediaName::parse("init-0.mp4"), Some(MediaName::Init(0)));
        assert_eq!(MediaName::parse("seg-12.m4s"), Some(MediaName::Segment(12)));
        assert_eq!(
            MediaName::parse("part-12-3.m4s"),
            Some(MediaName::Part(12, 3))
        );
        for bad in [
            "init-.mp4",
            "init-0.m4s",
            "seg--1.m4s",
            "seg-+1.m4s",
            "part-1.m4s",
            "part-1-2-3.m4s",
            "part-1-.m4s",
            "seg-99999999999999999999.m4s",
            "index.m3u8",
            "",
        ] {
            assert_eq!(MediaName::parse(bad), None, "{bad}");
        }
    }
}
