//! Who may list and download recordings, on a real node over HTTP: with a
//! webhook that authorizes viewers, a download needs the id's channel's
//! viewer check (Bearer token or `?token=`, ranges still served) and a
//! listing names one authorized channel; with the dummy service anyone
//! lists and downloads everything, as before.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failed unwrap in a test is a failed test"
)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use common::http;
use parking_lot::Mutex;
use serde_json::Value;
use waveguide::control::service::{Service, Webhook};
use waveguide::outputs::recording::RecordingSettings;

/// Two recordings of channel 77, one of channel 78, on disk before the
/// node starts (the listing reads the dir).
fn recording_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waveguide-rec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (channel, stem, len) in [
        ("77", "20261203T163000Z", 1000),
        ("77", "20261203T170000Z", 10),
        ("78", "20261203T180000Z", 20),
    ] {
        std::fs::create_dir_all(dir.join(channel)).unwrap();
        std::fs::write(dir.join(format!("{channel}/{stem}.mp4")), content(len)).unwrap();
    }
    dir
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// The viewer checks the platform was asked, as `(channel, token)`.
type Asked = Arc<Mutex<Vec<(Value, Value)>>>;

/// The platform's webhook: the token `ticket` may watch channel 77 only.
async fn hook(State(asked): State<Asked>, Json(event): Json<Value>) -> StatusCode {
    if event["event"] != "authorize_viewer" {
        return StatusCode::OK;
    }
    asked
        .lock()
        .push((event["channel"].clone(), event["token"].clone()));
    if event["channel"] == "77" && event["token"] == "ticket" {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    }
}

/// Starts the platform's server on its own runtime; returns its URL.
fn platform_server(asked: Asked) -> (String, tokio::runtime::Runtime) {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(asked);
    let (addr, runtime) = common::http::serve(app);
    (format!("http://{addr}/hook"), runtime)
}

fn recording_node(dir: PathBuf, service: Service) -> waveguide::Node {
    common::start_node_with(1, move |config| {
        config.service = service;
        config.recording = RecordingSettings {
            dir: Some(dir),
            ..RecordingSettings::default()
        };
    })
}

fn ids(response: &http::Response) -> Vec<String> {
    let list: Vec<Value> = serde_json::from_str(&response.body).unwrap();
    list.iter()
        .map(|entry| entry["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn with_viewer_auth_recordings_are_the_channels_viewers_only() {
    let asked = Asked::default();
    let (url, _platform) = platform_server(Arc::clone(&asked));
    let dir = recording_dir("auth-webhook");
    let node = recording_node(
        dir.clone(),
        Service::Webhook(Webhook {
            url,
            timeout_ms: 2_000,
            retries: 0,
            heartbeat_ms: 15_000,
            max_failed_heartbeats: 3,
            viewer_auth: true,
        }),
    );
    let addr = node.http_addr();
    let get = |path: &str, headers: &[(&str, &str)]| http::request(addr, "GET", path, headers, b"");
    let file = "/api/recordings/77~20261203T163000Z";

    // Download: refused without a token, with a wrong one, for the wrong
    // channel, and whether or not the file exists.
    let anonymous = get(file, &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(anonymous.body, "not allowed to watch this channel\n");
    assert_eq!(get(file, &[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(get(&format!("{file}?token=wrong"), &[]).status, 401);
    assert_eq!(get(file, &[("Range", "bytes=0-9")]).status, 401);
    let ticket = ("Authorization", "Bearer ticket");
    assert_eq!(
        get("/api/recordings/78~20261203T180000Z", &[ticket]).status,
        401
    );
    assert_eq!(
        get("/api/recordings/78~20261203T190000Z", &[ticket]).status,
        401
    );

    // Download, allowed: whole and by range, by header or query.
    let whole = get(file, &[ticket]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.bytes, content(1000));
    let part = get(file, &[ticket, ("Range", "bytes=100-199")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/1000"));
    assert_eq!(part.bytes, &content(1000)[100..200]);
    let by_query = get(&format!("{file}?token=ticket"), &[("Range", "bytes=-5")]);
    assert_eq!(by_query.status, 206);
    assert_eq!(by_query.bytes, &content(1000)[995..]);

    // Listing: one channel, authorized.
    let everything = get("/api/recordings", &[ticket]);
    assert_eq!(everything.status, 400);
    assert_eq!(everything.body, "channel required\n");
    let refused = get("/api/recordings?channel=77&token=wrong", &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(get("/api/recordings?channel=78", &[ticket]).status, 401);
    let listed = get("/api/recordings?channel=77", &[ticket]);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(ids(&listed), ["77~20261203T170000Z", "77~20261203T163000Z"]);
    let listed = get("/api/recordings?channel=77&token=ticket", &[]);
    assert_eq!(listed.status, 200);
    assert_eq!(ids(&listed).len(), 2);

    // The platform heard each check with the channel and token asked for.
    let asked = asked.lock().clone();
    assert_eq!(asked.first(), Some(&(Value::from("77"), Value::Null)));
    assert!(asked.contains(&(Value::from("78"), Value::from("ticket"))));
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_dummy_service_lets_anyone_list_and_download_everything() {
    let dir = recording_dir("auth-dummy");
    let node = recording_node(dir.clone(), Service::Dummy);
    let addr = node.http_addr();
    let get = |path: &str, headers: &[(&str, &str)]| http::request(addr, "GET", path, headers, b"");

    let all = get("/api/recordings", &[]);
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(
        ids(&all),
        [
            "78~20261203T180000Z",
            "77~20261203T170000Z",
            "77~20261203T163000Z"
        ]
    );
    let filtered = get("/api/recordings?channel=78", &[]);
    assert_eq!(filtered.status, 200);
    assert_eq!(ids(&filtered), ["78~20261203T180000Z"]);
    let part = get(
        "/api/recordings/77~20261203T163000Z",
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes, &content(1000)[..10]);
    // A page on another origin may ask with a token and a range, and read
    // the range's headers.
    let preflight = http::request(
        addr,
        "OPTIONS",
        "/api/recordings/77~20261203T163000Z",
        &[
            ("Origin", "https://platform.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization, range"),
        ],
        b"",
    );
    assert!(preflight.status < 300, "{}", preflight.status);
    let allowed = preflight.header("access-control-allow-headers").unwrap();
    assert!(
        allowed.contains("authorization") && allowed.contains("range"),
        "{allowed}"
    );
    let ranged = get(
        "/api/recordings/77~20261203T163000Z",
        &[
            ("Origin", "https://platform.example"),
            ("Range", "bytes=0-9"),
        ],
    );
    assert_eq!(ranged.header("access-control-allow-origin"), Some("*"));
    let exposed = ranged.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("content-range"), "{exposed}");
    node.stop();
    let _ = std::fs::remove_dir_all(dir);
}
