//! RelayError: why a channel could not be relayed to this node for a
//! viewer. The router turns each into an HTTP status and reason.

use std::sync::Arc;

use engine::EngineError;

/// Why a relay could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RelayError {
    /// The relay request came through this node already (a loop).
    #[error("this relay request came through this node already")]
    CameThroughHere,
    /// Another request's set-up of the relay did not finish in time.
    #[error("the relay is still being set up; retry shortly")]
    StillSettingUp,
    /// No orchestrator said where the stream is.
    #[error("the orchestrator is unreachable")]
    OrchestratorUnreachable,
    /// The channel is live nowhere (a record of this node itself is stale:
    /// it does not hold the stream, or it would not relay it).
    #[error("no live stream on this channel")]
    NotLive,
    /// Every holder would relay the stream in a loop.
    #[error("the stream is only held by nodes that would relay it in a loop")]
    OnlyLoopingHolders,
    /// The task that opens the relay failed.
    #[error("relay setup failed")]
    SetupFailed,
    /// The engine refused to open the relay.
    #[error(transparent)]
    Engine(Arc<EngineError>),
    /// The upstream node's answer could not be used.
    #[error("the origin's answer could not be used: {0}")]
    UnusableAnswer(String),
    /// The relay closed while it was being set up.
    #[error("the relay closed while it was being set up")]
    ClosedDuringSetup,
    /// The upstream node refused the relay or could not be reached.
    #[error("could not relay the stream from its origin: {0}")]
    Upstream(String),
    /// The upstream node cannot serve the stream yet (no keyframe there
    /// yet, or no room): the viewer may retry.
    #[error("the origin cannot serve the stream yet; retry shortly")]
    UpstreamNotReady,
}
