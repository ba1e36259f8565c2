//! The recordings API: `GET /api/recordings` lists them, newest first;
//! `GET /api/recordings/{id}` serves one file, with range requests. An id
//! is checked before any path is made of it, so no id reaches a file
//! outside the recording dir.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::ServeFile;

use super::Recordings;
use super::catalog::scan;
use super::naming::RecordingId;
use crate::net::error::HttpError;

/// `GET /api/recordings` and `GET /api/recordings/{id}`, state applied.
pub fn router(recordings: Arc<Recordings>) -> Router {
    Router::new()
        .route("/api/recordings", get(list))
        .route("/api/recordings/{id}", get(download))
        .with_state(recordings)
}

/// The most recordings one listing shows (the newest). Each publish adds
/// files; retention (`max_age`, `max_total_bytes`) is what bounds the dir,
/// this bounds the response.
const MAX_LISTED: usize = 10_000;

fn not_found() -> Response {
    HttpError::new(StatusCode::NOT_FOUND, "no such recording").into_response()
}

/// `GET /api/recordings`: `[{"id", "channel", "start", "duration_s",
/// "bytes", "recording"}]`, newest first and at most [`MAX_LISTED`];
/// `[]` with recording off.
async fn list(State(recordings): State<Arc<Recordings>>) -> Response {
    let shared = Arc::clone(&recordings.shared);
    let Some(dir) = shared.dir.clone() else {
        return Json(Vec::<serde_json::Value>::new()).into_response();
    };
    let listed = tokio::task::spawn_blocking(move || {
        scan(&shared, &dir)
            .iter()
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
/// served as long as it is at that moment.
async fn download(
    State(recordings): State<Arc<Recordings>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let (Some(dir), Some(id)) = (recordings.shared.dir.as_deref(), RecordingId::parse(&id)) else {
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

    use super::super::{test_dir, test_recordings};
    use super::*;

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
}
