//! Debian's FFmpeg as an RTMP publisher (a real client no one here wrote):
//! the shipped H.264 clip copied as it is, looped, with a 440 Hz tone
//! encoded as AAC, pushed to a URL; killed when dropped.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Debian's FFmpeg.
pub const FFMPEG: &str = "/usr/bin/ffmpeg";

/// The shipped clip's path.
pub fn clip_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/testsrc-320x240-30fps-baseline-gop30.h264")
}

/// The clip remuxed (not re-encoded) into Matroska, once per test process:
/// a raw H.264 file has no timestamps and cannot be seeked, so FFmpeg
/// could not loop it.
fn looping_clip() -> PathBuf {
    static REMUXED: OnceLock<PathBuf> = OnceLock::new();
    REMUXED
        .get_or_init(|| {
            let path =
                std::env::temp_dir().join(format!("waveguide-clip-{}.mkv", std::process::id()));
            let status = Command::new(FFMPEG)
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
                .args(["-f", "h264", "-framerate", "30", "-i"])
                .arg(clip_path())
                .args(["-c", "copy"])
                .arg(&path)
                .status()
                .unwrap_or_else(|e| {
                    panic!("{FFMPEG}: {e} (tests/all.sh installs Debian's ffmpeg)")
                });
            assert!(status.success(), "ffmpeg could not remux the clip");
            path
        })
        .clone()
}

/// A running `ffmpeg` publishing over RTMP.
pub struct FfmpegPublisher {
    child: Child,
}

impl FfmpegPublisher {
    /// Publishes the clip (video copied, looped) and a 440 Hz sine at
    /// `sample_rate` with `channels` encoded as AAC to `url`, in real time,
    /// for `seconds`.
    pub fn start(url: &str, seconds: u32, sample_rate: u32, channels: u32) -> Self {
        Self::start_with(url, seconds, (sample_rate, channels), &[])
    }

    /// As [`start`](Self::start), with `output_options` (e.g. TLS options
    /// for `rtmps://`) given to the output.
    pub fn start_with(
        url: &str,
        seconds: u32,
        (sample_rate, channels): (u32, u32),
        output_options: &[&str],
    ) -> Self {
        let sine = format!("sine=frequency=440:sample_rate={sample_rate}");
        let layout = if channels == 1 { "mono" } else { "stereo" };
        let child = Command::new(FFMPEG)
            .args(["-hide_banner", "-nostdin", "-loglevel", "warning", "-re"])
            .args(["-stream_loop", "-1", "-i"])
            .arg(looping_clip())
            // Both inputs in real time, as an encoder sends.
            .args(["-re", "-f", "lavfi", "-i", &sine])
            .args(["-map", "0:v", "-map", "1:a", "-t", &seconds.to_string()])
            .args(["-c:v", "copy", "-c:a", "aac", "-ac", &channels.to_string()])
            .args(["-channel_layout", layout])
            .args(output_options)
            .args(["-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{FFMPEG}: {e} (tests/all.sh installs Debian's ffmpeg)"));
        Self { child }
    }

    /// Publishes FFmpeg's test picture (320x240, 30 fps) encoded by libx264
    /// (main profile) with `b_frames` B-frames between references (OBS's
    /// x264 default sends some), and a 440 Hz sine as AAC, to `url` for
    /// `seconds`.
    pub fn start_encoded(url: &str, seconds: u32, b_frames: u32) -> Self {
        let child = Command::new(FFMPEG)
            .args(["-hide_banner", "-nostdin", "-loglevel", "warning"])
            .args(["-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
            .args([
                "-re",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
            ])
            .args(["-t", &seconds.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-profile:v",
                "main",
            ])
            .args(["-bf", &b_frames.to_string(), "-g", "30"])
            .args(["-c:a", "aac", "-f", "flv", url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{FFMPEG}: {e} (tests/all.sh installs Debian's ffmpeg)"));
        Self { child }
    }

    /// Waits up to `budget` for ffmpeg to exit: its status and what it
    /// printed, or `None` if it is still running.
    pub fn wait_exit(&mut self, budget: Duration) -> Option<(ExitStatus, String)> {
        let deadline = Instant::now() + budget;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(pipe) = self.child.stderr.as_mut() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Some((status, stderr));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for FfmpegPublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An RTMP URL for `key` on the node's RTMP port.
pub fn rtmp_url(node: &waveguide::Node, key: &str) -> String {
    let address = node.rtmp_addr().expect("RTMP is on");
    format!("rtmp://{address}/live/{key}")
}
