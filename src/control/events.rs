//! Engine events: a thread that acts on what the data plane reports
//! (viewers and publishers gone, relays closed, FTL media timed out).

use std::sync::Arc;

use engine::EngineEvent;
use ftl::StatusCode;

use super::state::Control;

/// Acts on every event of `events` on a thread of its own, until the
/// engine stops.
pub fn spawn(
    control: &Arc<Control>,
    events: impl IntoIterator<Item = EngineEvent> + Send + 'static,
) -> std::io::Result<()> {
    let control = Arc::clone(control);
    std::thread::Builder::new()
        .name("waveguide-events".into())
        .spawn(move || {
            for event in events {
                on_engine_event(&control, event);
            }
        })?;
    Ok(())
}

/// Acts on an engine event.
fn on_engine_event(control: &Control, event: EngineEvent) {
    match event {
        EngineEvent::ViewerClosed(viewer) => {
            control.resources.forget_peer(viewer);
            tracing::debug!(%viewer, "viewer closed");
        }
        EngineEvent::PublisherClosed {
            id,
            channel,
            stream_id,
        } => {
            control.resources.forget_peer(id);
            control.engine.remove_stream(&channel, stream_id);
            control.stream_stopped(stream_id);
            tracing::info!(%channel, publisher = %id, "WHIP publisher gone; stream ended");
        }
        EngineEvent::RelayClosed {
            id,
            channel,
            stream_id,
        } => {
            control.engine.remove_stream(&channel, stream_id);
            tracing::info!(%channel, relay = %id, "relay closed");
            control.relay_closed(channel, stream_id);
        }
        EngineEvent::ViewerConnected(viewer) => tracing::debug!(%viewer, "viewer connected"),
        EngineEvent::FtlMediaTimeout { channel, stream_id } => {
            tracing::info!(%channel, "FTL media timed out");
            control
                .ftl
                .end_stream(stream_id, StatusCode::NoMediaTimeout);
        }
    }
}
