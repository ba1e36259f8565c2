//! AppState: what the control runtime's tasks share: the engine handle, the
//! service, the WHEP resources, and who waits on which FTL media timeout.

use std::collections::HashMap;

use engine::{EngineEvent, EngineHandle, ViewerId};
use ftl::StatusCode;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::service::Service;

/// Shared by the HTTP handlers and the FTL connections.
pub struct AppState {
    /// The data plane.
    pub engine: EngineHandle,
    /// Who may stream.
    pub service: Service,
    /// Limits of every FTL control session.
    pub ftl_control: ftl::ServerConfig,
    resources: Mutex<Resources>,
    /// FTL connections waiting to be told their stream ended, by stream id.
    ftl_endings: Mutex<HashMap<u64, oneshot::Sender<StatusCode>>>,
}

#[derive(Default)]
struct Resources {
    by_id: HashMap<String, ViewerId>,
    by_viewer: HashMap<ViewerId, String>,
}

impl AppState {
    /// State around an engine.
    pub fn new(engine: EngineHandle, service: Service, ftl_control: ftl::ServerConfig) -> Self {
        Self {
            engine,
            service,
            ftl_control,
            resources: Mutex::new(Resources::default()),
            ftl_endings: Mutex::new(HashMap::new()),
        }
    }

    /// Registers a viewer under a new unguessable resource id (128 random bits).
    pub fn add_resource(&self, viewer: ViewerId) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut resources = self.resources.lock();
        resources.by_id.insert(id.clone(), viewer);
        resources.by_viewer.insert(viewer, id.clone());
        Some(id)
    }

    /// The viewer behind a resource id.
    pub fn resource(&self, id: &str) -> Option<ViewerId> {
        self.resources.lock().by_id.get(id).copied()
    }

    /// Forgets a resource; returns its viewer.
    pub fn remove_resource(&self, id: &str) -> Option<ViewerId> {
        let mut resources = self.resources.lock();
        let viewer = resources.by_id.remove(id)?;
        resources.by_viewer.remove(&viewer);
        Some(viewer)
    }

    /// A receiver that fires with the code to send when `stream_id` ends
    /// from outside its connection (media timeout: 408; takeover: 410).
    pub fn watch_stream_end(&self, stream_id: u64) -> oneshot::Receiver<StatusCode> {
        let (sender, receiver) = oneshot::channel();
        self.ftl_endings.lock().insert(stream_id, sender);
        receiver
    }

    /// Stops watching a stream's end.
    pub fn forget_stream_end(&self, stream_id: u64) {
        self.ftl_endings.lock().remove(&stream_id);
    }

    /// Tells the connection of `stream_id` that its stream ended, with `status`.
    pub fn end_stream(&self, stream_id: u64, status: StatusCode) {
        if let Some(sender) = self.ftl_endings.lock().remove(&stream_id) {
            let _ = sender.send(status);
        }
    }

    /// Acts on an engine event.
    pub fn on_engine_event(&self, event: EngineEvent) {
        match event {
            EngineEvent::ViewerClosed(viewer) => {
                let mut resources = self.resources.lock();
                if let Some(id) = resources.by_viewer.remove(&viewer) {
                    resources.by_id.remove(&id);
                }
                tracing::debug!(%viewer, "viewer closed");
            }
            EngineEvent::ViewerConnected(viewer) => tracing::debug!(%viewer, "viewer connected"),
            EngineEvent::FtlMediaTimeout { channel, stream_id } => {
                tracing::info!(%channel, "FTL media timed out");
                self.end_stream(stream_id, StatusCode::NoMediaTimeout);
            }
        }
    }
}
