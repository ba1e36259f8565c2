//! A witness stream: channel 1 published over FTL at real time by the load
//! tool's paced publisher and watched by two of its str0m viewers, which
//! check sequence continuity. Tests attack or churn the node around it and
//! then require that the witness lost nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use waveguide::Node;
use waveguide_load::ftl_publisher::FtlPublisher;
use waveguide_load::publisher::{PublisherStats, publish};
use waveguide_load::send_log::SendLog;
use waveguide_load::signalling::Signalling;
use waveguide_load::viewers::{JoinPlan, ViewerLoop, spawn_joiner};

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The dummy service's secret of `channel`: the hex SHA-256 of its name.
pub fn dummy_secret(channel: &str) -> String {
    hex(&Sha256::digest(channel.as_bytes()))
}

/// Channel 1, published at real time and watched by two viewers.
pub struct Witness {
    stop: Arc<AtomicBool>,
    publisher: JoinHandle<PublisherStats>,
    viewers: JoinHandle<ViewerLoop>,
}

impl Witness {
    pub fn start(node: &Node) -> Self {
        let clip = super::media::clip();
        let log = Arc::new(SendLog::new());
        let stop = Arc::new(AtomicBool::new(false));
        let key = format!("1-{}", dummy_secret("1"));
        let mut sink = FtlPublisher::connect(node.ftl_addr(), &key).unwrap();
        let publisher = {
            let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || publish(&mut sink, &clip, 30, &log, &stop))
        };
        super::wait_until_watchable(node, "1", || {
            std::thread::sleep(Duration::from_millis(10));
        });
        let signalling = Signalling::new(&format!("http://{}", node.http_addr())).unwrap();
        let viewers = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut viewers = ViewerLoop::new(log, None).unwrap();
                let plan = JoinPlan {
                    path: "/whep/endpoint/1".into(),
                    count: 2,
                    per_second: 10.0,
                    bind: [127, 0, 0, 1].into(),
                };
                let joiner = spawn_joiner(
                    signalling,
                    plan,
                    viewers.joiner_handles(),
                    Arc::clone(&stop),
                );
                while !stop.load(Ordering::Acquire) {
                    viewers
                        .run_until(Instant::now() + Duration::from_millis(50))
                        .unwrap();
                }
                let _ = joiner.map(|j| j.join());
                viewers
            })
        };
        let witness = Self {
            stop,
            publisher,
            viewers,
        };
        std::thread::sleep(Duration::from_secs(2));
        witness
    }

    /// Stops and checks that both viewers got every packet of the run.
    pub fn finish(self) {
        self.stop.store(true, Ordering::Release);
        let sent = self.publisher.join().unwrap();
        let viewers = self.viewers.join().unwrap();
        assert_eq!(viewers.viewers().count(), 2, "{:?}", viewers.failures());
        for viewer in viewers.viewers() {
            assert!(viewer.connected() && viewer.failure.is_none());
            assert_eq!(viewer.video_continuity.lost(), 0, "video lost");
            assert_eq!(viewer.audio_continuity.lost(), 0, "audio lost");
            assert!(
                viewer.packets() > sent.packets / 2,
                "a witness viewer got {} of {} packets",
                viewer.packets(),
                sent.packets
            );
        }
        println!(
            "witness: {} packets sent; viewers received {:?}, lost 0",
            sent.packets,
            viewers.viewers().map(|v| v.packets()).collect::<Vec<_>>()
        );
    }
}
