//! Outputs: what reads a stream. WHEP viewers and the player page; the
//! packager, which cuts a stream into CMAF for HLS and recordings; and
//! the thumbnails.

pub mod hls;
pub mod packager;
pub mod player;
pub mod recording;
pub mod thumbnails;
pub mod whep;

use std::sync::Arc;

/// The outputs that read streams off the workers, as the node's routes and
/// metrics see them.
pub struct MediaOutputs {
    /// The per-stream packagers both of the others share.
    pub packagers: Arc<packager::Packagers>,
    /// HLS and LL-HLS.
    pub hls: Arc<hls::HlsOutput>,
    /// Recordings to disk.
    pub recordings: Arc<recording::Recordings>,
    /// Every stream's newest JPEG thumbnail.
    pub thumbnails: Arc<thumbnails::Thumbnails>,
}
