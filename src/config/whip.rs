//! `[whip]`: how WHIP publishers are treated.

use serde::{Deserialize, Serialize};

/// `[whip]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhipSection {
    /// Whether a publisher may replace a live stream (else 409).
    pub takeover: bool,
}
