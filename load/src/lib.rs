//! `waveguide-load`: Waveguide's load tool. A synthetic publisher sends a
//! real H.264 + Opus clip at real time over FTL or WHIP; N str0m WHEP viewers
//! join at a set rate, each with full ICE, DTLS and SRTP, and check sequence
//! continuity, frames, NACKs, PLIs, first-frame time and ingest-to-viewer
//! latency; the server's CPU and memory come from `/proc`. One thread drives
//! every viewer, so one core serves hundreds of them. The same clients, one at
//! a time and driven step by step, are the end-to-end tests' publishers and
//! viewers.

pub mod ftl_publisher;
pub mod media;
pub mod negotiation;
pub mod pacer;
pub mod publisher;
pub mod recording_viewer;
pub mod report;
pub mod rtc_client;
pub mod rtmp_publisher;
pub mod run;
pub mod send_log;
pub mod signalling;
pub mod viewers;
pub mod whip_publisher;

pub use run::{Ingest, LoadError, Options, run};
