//! Cluster harness: orchestrators (in this process, or as a child process
//! of the real binary so a test can kill it), member nodes, and reading the
//! registry over its HTTP API. Every wait has a deadline.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use waveguide::Node;
use waveguide::cluster::ClusterConfig;
use waveguide::orchestrator::{Orchestrator, OrchestratorConfig, Store};

use super::http;

/// The secret every node and orchestrator of the test cluster shares.
pub const SECRET: &str = "cluster-test-secret";

/// How often test nodes report.
pub const HEARTBEAT: Duration = Duration::from_millis(300);

/// How long the test orchestrators keep a silent node or stream.
pub const TTL: Duration = Duration::from_millis(1500);

/// An orchestrator in this process on a free port.
pub fn start_orchestrator(store: Store) -> Orchestrator {
    Orchestrator::start(OrchestratorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        store,
        secret: SECRET.into(),
        node_ttl: TTL,
        stream_ttl: TTL,
        ..OrchestratorConfig::default()
    })
    .expect("orchestrator starts")
}

/// A member node on free ports reporting to `orchestrators`.
pub fn start_member(orchestrators: &[SocketAddr], id: &str, region: &str) -> Node {
    let config = ClusterConfig {
        orchestrators: orchestrators
            .iter()
            .map(|o| format!("http://{o}"))
            .collect(),
        secret: SECRET.into(),
        node_id: Some(id.into()),
        region: region.into(),
        public_url: None,
        capacity: 100,
        heartbeat: HEARTBEAT,
        timeout: Duration::from_secs(1),
        ca_file: None,
    };
    super::start_node_with(1, |node| {
        node.cluster = Some(config);
        node.engine.relay_idle_grace = Duration::from_millis(1500);
        // Tests pause media while they wait for expiries; streams end by
        // their publisher's DISCONNECT, not by this timeout.
        node.engine.ftl_media_timeout = Duration::from_secs(20);
    })
}

/// A child process of the real binary, killed when dropped (its config
/// file removed).
pub struct ChildProcess {
    child: Child,
    config: PathBuf,
}

impl ChildProcess {
    /// Kills it without warning (SIGKILL): it says goodbye to nobody.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// Starts `waveguide-engine [role] --config <toml>` and waits for the JSON
/// log line whose message contains `ready`; returns the process and that line.
pub fn spawn_binary(role: &[&str], toml: &str, ready: &str) -> (ChildProcess, Value) {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).unwrap();
    let path = std::env::temp_dir().join(format!(
        "waveguide-cluster-{}-{:x}.toml",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    std::fs::File::create(&path)
        .and_then(|mut file| file.write_all(toml.as_bytes()))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_waveguide-engine"))
        .args(role)
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // Owned (killed and reaped on drop) before anything can fail.
    let mut process = ChildProcess {
        child,
        config: path,
    };
    let stdout = process.child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Once nobody listens, keep draining so the child never blocks.
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines.recv_timeout(left).expect("the child process started");
        let Ok(value) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let message = value["fields"]["message"].as_str().unwrap_or_default();
        if message.contains(ready) {
            return (process, value);
        }
    }
}

/// An orchestrator as a child process sharing the Redis registry at
/// `redis_url`; returns it and its address.
pub fn spawn_orchestrator(redis_url: &str) -> (ChildProcess, SocketAddr) {
    let toml = format!(
        "[orchestrator]\nsecret = \"{SECRET}\"\n[orchestrator.server]\nlisten = \"127.0.0.1:0\"\n\
         store = \"redis\"\nredis_url = \"{redis_url}\"\nnode_ttl_ms = {ttl}\nstream_ttl_ms = {ttl}\n\
         [logging]\nformat = \"json\"\n",
        ttl = TTL.as_millis()
    );
    let (process, line) = spawn_binary(&["orchestrator"], &toml, "listening");
    let address = line["fields"]["address"].as_str().unwrap().parse().unwrap();
    (process, address)
}

/// A member node as a child process (so that it can be killed), reporting
/// to `orchestrators` in turn.
pub fn spawn_member(orchestrators: &[SocketAddr], id: &str, region: &str) -> ChildProcess {
    let urls: Vec<String> = orchestrators
        .iter()
        .map(|o| format!("\"http://{o}\""))
        .collect();
    let toml = format!(
        "[http]\naddress = \"127.0.0.1:0\"\n[ftl]\naddress = \"127.0.0.1:0\"\nmedia_port_min = 0\nmedia_port_max = 0\n\
         [webrtc]\nbind = \"127.0.0.1\"\nport_base = 0\npublic_ip = \"127.0.0.1\"\n[workers]\ncount = 1\n\
         [orchestrator]\nurls = [{urls}]\nsecret = \"{SECRET}\"\nnode_id = \"{id}\"\n\
         region = \"{region}\"\nheartbeat_ms = {heartbeat}\n[logging]\nformat = \"json\"\n",
        heartbeat = HEARTBEAT.as_millis(),
        urls = urls.join(", ")
    );
    spawn_binary(&[], &toml, "running").0
}

/// `GET path` on an orchestrator, as JSON.
pub fn get_json(orchestrator: SocketAddr, path: &str) -> Value {
    let response = http::request(orchestrator, "GET", path, &[], b"");
    assert_eq!(response.status, 200, "GET {path}: {}", response.body);
    serde_json::from_str(&response.body).unwrap()
}

/// The ids of the live nodes.
pub fn node_ids(orchestrator: SocketAddr) -> Vec<String> {
    get_json(orchestrator, "/v1/nodes")
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Each node's viewer count as the orchestrator last heard it.
pub fn reported_viewers(orchestrator: SocketAddr) -> Vec<(String, u64)> {
    get_json(orchestrator, "/v1/nodes")
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let id = node["id"].as_str().unwrap().to_owned();
            (id, node["viewers"].as_u64().unwrap())
        })
        .collect()
}

/// The nodes holding `channel`, with their relay paths.
pub fn holders(orchestrator: SocketAddr, channel: &str) -> Vec<(String, bool, Vec<String>)> {
    get_json(orchestrator, "/v1/streams")
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["channel"] == channel)
        .map(|s| {
            let path = s["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            (
                s["node"].as_str().unwrap().to_owned(),
                s["origin"].as_bool().unwrap(),
                path,
            )
        })
        .collect()
}

/// Waits up to `budget` for `condition`, then fails with `what`.
pub fn wait_for(budget: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + budget;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The host and port of an absolute `http://` URL.
pub fn address_of(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("http://").unwrap();
    let authority = rest.split('/').next().unwrap();
    authority.parse().unwrap()
}

/// A free 127.0.0.1 TCP port (for servers that cannot be told to pick one).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` on a free port, stopped when dropped.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:<port>/`
    pub url: String,
    /// Its port.
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A server on `port` (to restart one where its clients expect it).
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        let server = Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            port,
        };
        wait_for(Duration::from_secs(10), "redis-server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
