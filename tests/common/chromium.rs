//! Headless Chromium driven over the DevTools protocol (raw CDP over a
//! websocket): start it on a page, evaluate JavaScript, size its
//! viewport, take screenshots, shut it down.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Chromium {
    child: Child,
    profile: PathBuf,
    page: WebSocket<MaybeTlsStream<std::net::TcpStream>>,
    next_id: u64,
}

impl Chromium {
    /// Starts a fresh headless Chromium showing `url`.
    pub fn open(url: &str) -> Self {
        // A fresh profile per browser: two Chromiums sharing one would merge
        // into a single process.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let profile = std::env::temp_dir().join(format!(
            "waveguide-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Chromium starts (apt install chromium)");
        // Chromium writes its DevTools port to the profile once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.lines().next().and_then(|l| l.parse().ok()))
            {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "Chromium did not open its DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let devtools = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let page_url = loop {
            let list = super::http::request(devtools, "GET", "/json/list", &[], b"");
            let targets: Value = serde_json::from_str(&list.body).unwrap_or(Value::Null);
            let page = targets.as_array().and_then(|targets| {
                targets
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
            });
            if let Some(page) = page {
                break page;
            }
            assert!(Instant::now() < deadline, "Chromium has no page target");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (page, _) = tungstenite::connect(page_url).unwrap();
        Self {
            child,
            profile,
            page,
            next_id: 1,
        }
    }

    /// Sends one DevTools command and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let command = json!({ "id": id, "method": method, "params": params });
        self.page.send(Message::text(command.to_string())).unwrap();
        loop {
            let message = self.page.read().unwrap();
            let Ok(text) = message.to_text() else {
                continue;
            };
            let reply: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if reply["id"] == id {
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns its value.
    pub fn evaluate(&mut self, expression: &str) -> Value {
        let params =
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true });
        self.call("Runtime.evaluate", params)["result"]["value"].clone()
    }

    /// Makes the page `width` x `height` CSS pixels (a phone's, with `mobile`).
    pub fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) {
        let params =
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        self.call("Emulation.setDeviceMetricsOverride", params);
    }

    /// A screenshot of the page as it is drawn now, decoded.
    pub fn screenshot(&mut self) -> image::RgbaImage {
        use base64::Engine as _;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("a screenshot"))
            .unwrap();
        image::load_from_memory(&png).unwrap().to_rgba8()
    }

    /// Saves `shot` as a PNG under the system's temporary directory, for a
    /// person to look at when a test fails, and returns its path.
    pub fn keep_screenshot(shot: &image::RgbaImage, name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("waveguide-{name}.png"));
        shot.save(&path).unwrap();
        path
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
