//! The recordings API: `GET /api/recordings` lists them, newest first;
//! `GET /api/recordings/{id}` serves one file, with range requests. An id
//! is checked before any path is made of it, so no id reaches a file
//! outside the recording dir. A channel's recordings are its viewers'
//! only: the service's viewer check (as for HLS and WHEP) comes before
//! anything is read from the dir.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeFile;

use super::Recordings;
use super::catalog::scan;
use super::naming::{RecordingId, channel_from_dir};
use crate::control::service_client::ServiceClient;
use crate::net::error::HttpError;
use crate::outputs::whep::bearer_token;
use tower_http::cors::{Any, CorsLayer};

/// `GET /api/recordings` and `GET /api/recordings/{id}`, state applied,
/// with CORS: a platform's page on another origin may list and play them
/// (with a Bearer token, and ranges).
pub fn router(recordings: Arc<Recordings>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::RANGE])
        .expose_headers([
            header::CONTENT_RANGE,
            header::ACCEPT_RANGES,
            header::CONTENT_LENGTH,
        ]);
    Router::new()
        .route("/api/recordings", get(list))
        .route("/api/recordings/{id}", get(download))
        .layer(cors)
        .with_state(recordings)
}

/// The most recordings one listing shows (the newest). Each publish adds
/// files; retention (`max_age`, `max_total_bytes`) is what bounds the dir,
/// this bounds the response.
const MAX_LISTED: usize = 10_000;

/// Longest `channel` or `token` query value taken.
const MAX_QUERY_VALUE_BYTES: usize = 4096;

fn not_found() -> Response {
    HttpError::new(StatusCode::NOT_FOUND, "no such recording").into_response()
}

/// What a recordings request's query says: `channel` (the listing's
/// filter) and `token` (the viewer's, for players that cannot set
/// headers). Other parameters are ignored.
#[derive(Debug, Default, PartialEq, Eq)]
struct RecordingsQuery {
    channel: Option<String>,
    token: Option<String>,
}

impl RecordingsQuery {
    /// Parses `uri`'s query; `400` if it is not form-encoded, repeats
    /// `channel` or `token`, or gives one longer than
    /// [`MAX_QUERY_VALUE_BYTES`].
    fn parse(uri: &Uri) -> Result<Self, HttpError> {
        let bad = |reason: &str| HttpError::new(StatusCode::BAD_REQUEST, reason);
        let mut query = Self::default();
        if uri.query().is_none() {
            return Ok(query);
        }
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|_| bad("the query is not form-encoded"))?
            .0;
        for (key, value) in pairs {
            let slot = match key.as_str() {
                "channel" => &mut query.channel,
                "token" => &mut query.token,
                _ => continue,
            };
            if value.len() > MAX_QUERY_VALUE_BYTES {
                return Err(bad(&format!(
                    "{key} must be at most {MAX_QUERY_VALUE_BYTES} bytes"
                )));
            }
            if slot.replace(value).is_some() {
                return Err(bad(&format!("{key} is given twice")));
            }
        }
        Ok(query)
    }

    /// The viewer's token: its Bearer token, else its `token` parameter.
    fn token<'a>(&'a self, headers: &'a HeaderMap) -> Option<&'a str> {
        bearer_token(headers).or(self.token.as_deref())
    }
}

/// `401` unless the service lets a viewer holding `token` watch `channel`.
async fn authorize(
    service: &ServiceClient,
    channel: &str,
    token: Option<&str>,
) -> Result<(), HttpError> {
    if service.authorize_viewer(channel, token).await {
        return Ok(());
    }
    let mut error = HttpError::new(
        StatusCode::UNAUTHORIZED,
        "not allowed to watch this channel",
    );
    error.www_authenticate = true;
    Err(error)
}

/// `GET /api/recordings[?channel=<c>]`: `[{"id", "channel", "start",
/// "duration_s", "bytes", "recording"}]`, newest first and at most
/// [`MAX_LISTED`], of `channel` only if given; `[]` with recording off.
/// When the service authorizes viewers, `channel` is required (`400`
/// without it) and its viewer check must pass (`401`), with the token
/// from `Authorization: Bearer` or `?token=`.
async fn list(State(recordings): State<Arc<Recordings>>, headers: HeaderMap, uri: Uri) -> Response {
    let query = match RecordingsQuery::parse(&uri) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    if !recordings.viewers.allows_every_viewer() {
        let Some(channel) = query.channel.as_deref() else {
            return HttpError::new(StatusCode::BAD_REQUEST, "channel required").into_response();
        };
        if let Err(error) = authorize(&recordings.viewers, channel, query.token(&headers)).await {
            return error.into_response();
        }
    }
    let shared = Arc::clone(&recordings.shared);
    let Some(dir) = shared.dir.clone() else {
        return Json(Vec::<serde_json::Value>::new()).into_response();
    };
    let channel = query.channel;
    let listed = tokio::task::spawn_blocking(move || {
        scan(&shared, &dir)
            .iter()
            .filter(|entry| channel.as_ref().is_none_or(|c| *c == entry.channel))
            .take(MAX_LISTED)
            .map(|entry| entry.json())
            .collect::<Vec<_>>()
    })
    .await;
    match listed {
        Ok(entries) => Json(entries).into_response(),
        Err(_) => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot list recordings")
            .into_response(),
    }
}

/// `GET /api/recordings/{id}`: the file as `video/mp4`, with ranges (206,
/// `Accept-Ranges: bytes`). A file being written can be fetched too: it is
/// served as long as it is at that moment. `401` unless the viewer (its
/// Bearer token, else its `token` parameter) may watch the id's channel,
/// asked before the file is looked for, so a refused viewer cannot tell
/// which recordings exist.
async fn download(
    State(recordings): State<Arc<Recordings>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let query = match RecordingsQuery::parse(request.uri()) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    let Some(id) = RecordingId::parse(&id) else {
        return not_found();
    };
    // An id parses only with a directory name that decodes; never `None`.
    let Some(channel) = channel_from_dir(&id.channel_dir) else {
        return not_found();
    };
    let token = query.token(request.headers());
    if let Err(error) = authorize(&recordings.viewers, &channel, token).await {
        return error.into_response();
    }
    let Some(dir) = recordings.shared.dir.as_deref() else {
        return not_found();
    };
    let path = id.file(dir);
    // Not through a symlink: only the files we wrote.
    let is_file = tokio::fs::symlink_metadata(&path)
        .await
        .is_ok_and(|metadata| metadata.is_file());
    if !is_file {
        return not_found();
    }
    match ServeFile::new(&path).try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot serve a recording");
            HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot read the recording",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::SocketAddr;

    use axum::http::header;

    use super::super::{test_dir, test_recordings, test_recordings_with};
    use super::*;
    use crate::control::service::{Service, Webhook};

    async fn serve(recordings: Arc<Recordings>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router(recordings)).await.unwrap();
        });
        addr
    }

    fn client() -> reqwest::Client {
        // reqwest's rustls needs a provider even for plain HTTP.
        crate::net::tls::install_crypto_provider();
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap()
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn recording_dir(name: &str) -> std::path::PathBuf {
        let dir = test_dir(name);
        fs::create_dir_all(dir.join("123")).unwrap();
        fs::write(dir.join("123/20261203T163000Z.mp4"), content(1000)).unwrap();
        fs::write(dir.join("123/20261203T170000Z.mp4"), content(10)).unwrap();
        // Outside the recordings, where a traversal would land.
        fs::write(dir.join("secret.mp4"), b"secret").unwrap();
        dir
    }

    #[tokio::test]
    async fn lists_recordings_newest_first() {
        let dir = recording_dir("api-list");
        let (recordings, _) = test_recordings(Some(dir));
        let addr = serve(recordings).await;
        let response = client()
            .get(format!("http://{addr}/api/recordings"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let list: Vec<serde_json::Value> = response.json().await.unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["id"], "123~20261203T170000Z");
        assert_eq!(list[0]["channel"], "123");
        assert_eq!(list[0]["start"], "2026-12-03T17:00:00Z");
        assert_eq!(list[0]["bytes"], 10);
        assert_eq!(list[0]["recording"], false);
        assert_eq!(list[1]["id"], "123~20261203T163000Z");
        assert_eq!(list[1]["bytes"], 1000);
        // Not a fragmented MP4: the duration is unknown, not made up.
        assert_eq!(list[1]["duration_s"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn downloads_whole_and_by_range() {
        let dir = recording_dir("api-download");
        let (recordings, _) = test_recordings(Some(dir));
        let addr = serve(recordings).await;
        let url = format!("http://{addr}/api/recordings/123~20261203T163000Z");
        let whole = client().get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()[header::CONTENT_TYPE], "video/mp4");
        assert_eq!(whole.headers()[header::ACCEPT_RANGES], "bytes");
        assert_eq!(whole.bytes().await.unwrap().as_ref(), content(1000));
        let part = client()
            .get(&url)
            .header(header::RANGE, "bytes=100-199")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.headers()[header::CONTENT_RANGE], "bytes 100-199/1000");
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &content(1000)[100..200]
        );
        let tail = client()
            .get(&url)
            .header(header::RANGE, "bytes=-5")
            .send()
            .await
            .unwrap();
        assert_eq!(tail.status(), 206);
        assert_eq!(tail.bytes().await.unwrap().as_ref(), &content(1000)[995..]);
        let beyond = client()
            .get(&url)
            .header(header::RANGE, "bytes=5000-")
            .send()
            .await
            .unwrap();
        assert_eq!(beyond.status(), 416);
    }

    #[tokio::test]
    async fn bad_ids_are_404() {
        let dir = recording_dir("api-bad-ids");
        let (recordings, _) = test_recordings(Some(dir.clone()));
        let addr = serve(recordings).await;
        for id in [
            "123~20261203T163001Z",
            "124~20261203T163000Z",
            "..~secret",
            "..%2Fsecret.mp4",
            "%2E%2E~20261203T163000Z",
            "123~..%2F..%2Fsecret",
            "123%2F20261203T163000Z.mp4",
            "123~20261203T163000Z.mp4",
            "secret",
            "123~20261203T163000Z~",
        ] {
            let response = client()
                .get(format!("http://{addr}/api/recordings/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 404, "{id}");
        }
        // A symlink planted in the dir is not served.
        std::os::unix::fs::symlink(dir.join("secret.mp4"), dir.join("123/20261203T190000Z.mp4"))
            .unwrap();
        let response = client()
            .get(format!("http://{addr}/api/recordings/123~20261203T190000Z"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    #[tokio::test]
    async fn recording_off_lists_nothing_and_serves_nothing() {
        let (recordings, _) = test_recordings(None);
        let addr = serve(recordings).await;
        let list: Vec<serde_json::Value> = client()
            .get(format!("http://{addr}/api/recordings"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(list.is_empty());
        let response = client()
            .get(format!("http://{addr}/api/recordings/123~20261203T163000Z"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }

    /// A platform whose webhook lets the token `ticket` watch channel `123`
    /// only, refusing everything else; its URL and the viewer checks it got
    /// (channel, token).
    async fn platform() -> (String, Arc<parking_lot::Mutex<Vec<(String, String)>>>) {
        let asked = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let kept = Arc::clone(&asked);
        let hook = move |Json(event): Json<serde_json::Value>| {
            let kept = Arc::clone(&kept);
            async move {
                let (channel, token) = (&event["channel"], &event["token"]);
                kept.lock().push((channel.to_string(), token.to_string()));
                if event["event"] == "authorize_viewer" && channel == "123" && token == "ticket" {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new().route("/hook", axum::routing::post(hook));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, asked)
    }

    fn webhook(url: &str, viewer_auth: bool) -> Service {
        Service::Webhook(Webhook {
            url: url.to_owned(),
            timeout_ms: 2_000,
            retries: 0,
            heartbeat_ms: 15_000,
            max_failed_heartbeats: 3,
            viewer_auth,
        })
    }

    /// [`recording_dir`] plus a recording of channel `a/b`.
    fn two_channel_dir(name: &str) -> std::path::PathBuf {
        let dir = recording_dir(name);
        fs::create_dir_all(dir.join("a.2Fb")).unwrap();
        fs::write(dir.join("a.2Fb/20261203T180000Z.mp4"), content(20)).unwrap();
        dir
    }

    async fn get(
        url: &str,
        headers: &[(header::HeaderName, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let mut request = client().get(url);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.bytes().await.unwrap().to_vec())
    }

    fn ids(body: &[u8]) -> Vec<String> {
        let list: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
        list.iter().map(|entry| entry["id"].to_string()).collect()
    }

    #[tokio::test]
    async fn a_refused_viewer_gets_401_on_download() {
        let (url, asked) = platform().await;
        let dir = two_channel_dir("api-auth-download");
        let (recordings, _) = test_recordings_with(Some(dir), webhook(&url, true));
        let addr = serve(recordings).await;
        let file = format!("http://{addr}/api/recordings/123~20261203T163000Z");
        for headers in [
            &[][..],
            &[(header::AUTHORIZATION, "Bearer wrong")][..],
            &[(header::RANGE, "bytes=0-9")][..],
        ] {
            let (status, response_headers, body) = get(&file, headers).await;
            assert_eq!(status, 401, "{headers:?}");
            assert_eq!(response_headers[header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(body, b"not allowed to watch this channel\n");
        }
        let (status, ..) = get(&format!("{file}?token=wrong"), &[]).await;
        assert_eq!(status, 401);
        // Allowed for 123, not for a/b; and a file that does not exist is
        // not told apart from one that does.
        let bearer = [(header::AUTHORIZATION, "Bearer ticket")];
        let other = format!("http://{addr}/api/recordings/a.2Fb~20261203T180000Z");
        assert_eq!(get(&other, &bearer).await.0, 401);
        let missing = format!("http://{addr}/api/recordings/a.2Fb~20261203T190000Z");
        assert_eq!(get(&missing, &bearer).await.0, 401);
        assert_eq!(
            asked.lock().last().unwrap(),
            &("\"a/b\"".to_owned(), "\"ticket\"".to_owned())
        );
        // No token at all reaches the webhook as null.
        assert_eq!(
            asked.lock().first().unwrap(),
            &("\"123\"".to_owned(), "null".to_owned())
        );
    }

    #[tokio::test]
    async fn an_allowed_viewer_downloads_whole_and_by_range() {
        let (url, _) = platform().await;
        let dir = two_channel_dir("api-auth-allowed");
        let (recordings, _) = test_recordings_with(Some(dir), webhook(&url, true));
        let addr = serve(recordings).await;
        let file = format!("http://{addr}/api/recordings/123~20261203T163000Z");
        let bearer = (header::AUTHORIZATION, "Bearer ticket");
        let (status, _, body) = get(&file, std::slice::from_ref(&bearer)).await;
        assert_eq!(status, 200);
        assert_eq!(body, content(1000));
        let (status, headers, body) = get(&file, &[bearer, (header::RANGE, "bytes=100-199")]).await;
        assert_eq!(status, 206);
        assert_eq!(headers[header::CONTENT_RANGE], "bytes 100-199/1000");
        assert_eq!(body, &content(1000)[100..200]);
        // The query's token, for players that cannot set headers.
        let (status, _, body) = get(
            &format!("{file}?token=ticket"),
            &[(header::RANGE, "bytes=-5")],
        )
        .await;
        assert_eq!(status, 206);
        assert_eq!(body, &content(1000)[995..]);
        // Allowed, but no such file.
        let missing = format!("http://{addr}/api/recordings/123~20261203T190000Z?token=ticket");
        assert_eq!(get(&missing, &[]).await.0, 404);
    }

    #[tokio::test]
    async fn with_viewer_auth_a_listing_is_one_authorized_channel() {
        let (url, asked) = platform().await;
        let dir = two_channel_dir("api-auth-list");
        let (recordings, _) = test_recordings_with(Some(dir), webhook(&url, true));
        let addr = serve(recordings).await;
        let list = format!("http://{addr}/api/recordings");
        let bearer = [(header::AUTHORIZATION, "Bearer ticket")];
        let (status, _, body) = get(&list, &bearer).await;
        assert_eq!(status, 400);
        assert_eq!(body, b"channel required\n");
        assert!(
            asked.lock().is_empty(),
            "asked with no channel to ask about"
        );
        let (status, headers, _) = get(&format!("{list}?channel=123"), &[]).await;
        assert_eq!(status, 401);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        let (status, ..) = get(&format!("{list}?channel=123&token=wrong"), &[]).await;
        assert_eq!(status, 401);
        let (status, ..) = get(&format!("{list}?channel=a%2Fb"), &bearer).await;
        assert_eq!(status, 401);
        let (status, _, body) = get(&format!("{list}?channel=123"), &bearer).await;
        assert_eq!(status, 200);
        assert_eq!(
            ids(&body),
            ["\"123~20261203T170000Z\"", "\"123~20261203T163000Z\""]
        );
        let (status, _, body) = get(&format!("{list}?channel=123&token=ticket"), &[]).await;
        assert_eq!(status, 200);
        assert_eq!(ids(&body).len(), 2);
    }

    #[tokio::test]
    async fn without_viewer_auth_everything_is_listed_and_channel_filters() {
        // Nothing listens at this webhook: nobody may be asked.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", closed.local_addr().unwrap());
        drop(closed);
        for service in [Service::Dummy, webhook(&url, false)] {
            let dir = two_channel_dir("api-auth-open");
            let (recordings, _) = test_recordings_with(Some(dir), service.clone());
            let addr = serve(recordings).await;
            let list = format!("http://{addr}/api/recordings");
            let (status, _, body) = get(&list, &[]).await;
            assert_eq!(status, 200, "{service:?}");
            assert_eq!(
                ids(&body),
                [
                    "\"a.2Fb~20261203T180000Z\"",
                    "\"123~20261203T170000Z\"",
                    "\"123~20261203T163000Z\""
                ]
            );
            let (status, _, body) = get(&format!("{list}?channel=a%2Fb"), &[]).await;
            assert_eq!(status, 200);
            assert_eq!(ids(&body), ["\"a.2Fb~20261203T180000Z\""]);
            let (status, _, body) = get(&format!("{list}?channel=999"), &[]).await;
            assert_eq!(status, 200);
            assert!(ids(&body).is_empty());
            let file = format!("http://{addr}/api/recordings/123~20261203T170000Z");
            assert_eq!(get(&file, &[]).await.0, 200);
        }
    }

    #[test]
    fn queries_are_parsed_once_and_bounded() {
        let parse = |text: &str| RecordingsQuery::parse(&text.parse::<Uri>().unwrap());
        assert_eq!(
            parse("/api/recordings").unwrap(),
            RecordingsQuery::default()
        );
        assert_eq!(
            parse("/api/recordings?channel=a%2Fb&token=t+1&other=x").unwrap(),
            RecordingsQuery {
                channel: Some("a/b".into()),
                token: Some("t 1".into()),
            }
        );
        assert!(parse("/api/recordings?token=a&token=b").is_err());
        assert!(parse("/api/recordings?channel=a&channel=a").is_err());
        let at_limit = "t".repeat(MAX_QUERY_VALUE_BYTES);
        assert!(parse(&format!("/api/recordings?token={at_limit}")).is_ok());
        assert!(parse(&format!("/api/recordings?token={at_limit}t")).is_err());
        assert!(parse(&format!("/api/recordings?channel={at_limit}t")).is_err());
    }
}
