//! Control: what the inputs, the outputs and the API share: the engine
//! handle, the service, the WHIP and WHEP resources, the FTL connections,
//! and the lifecycle of every stream (the service and any listener hear
//! each start and stop once).

use std::sync::Arc;

use engine::EngineHandle;

use super::ftl_connections::FtlConnections;
use super::listener::StreamListener;
use super::resources::Resources;
use super::service::Service;
use super::service_client::ServiceClient;
use super::started::{StartedStream, StartedStreams};

/// Shared by the HTTP handlers and the FTL connections.
pub struct Control {
    /// The data plane.
    pub engine: EngineHandle,
    /// Who may stream, and who hears about streams.
    pub service: ServiceClient,
    /// Whether a WHIP publisher may replace a live stream (else `409`).
    pub whip_takeover: bool,
    /// The WHIP and WHEP sessions.
    pub resources: Resources,
    /// The FTL control connections.
    pub ftl: FtlConnections,
    /// What the service was told about each live stream.
    pub(super) started: StartedStreams,
    /// Runs the service calls made from outside the runtime.
    runtime: tokio::runtime::Handle,
    /// Who else hears of streams (the cluster, when in one).
    listener: Option<Arc<dyn StreamListener>>,
}

impl Control {
    /// Control around an engine. With `base_url`, resources are announced
    /// at absolute URLs (see [`Resources::new`]).
    pub fn new(
        engine: EngineHandle,
        service: Service,
        whip_takeover: bool,
        runtime: tokio::runtime::Handle,
        base_url: Option<String>,
        listener: Option<Arc<dyn StreamListener>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            engine,
            service: ServiceClient::new(service)?,
            whip_takeover,
            resources: Resources::new(base_url),
            ftl: FtlConnections::default(),
            started: StartedStreams::default(),
            runtime,
            listener,
        })
    }

    /// Tells the service (and the listener) a stream started.
    pub fn stream_started(
        &self,
        stream_id: u64,
        channel: &str,
        ingest: &'static str,
        vendor: (Option<String>, Option<String>),
    ) {
        let started = StartedStream::new(channel, ingest, vendor);
        let event = started.started_event(stream_id);
        self.started.insert(stream_id, started);
        self.notify(event);
        if let Some(listener) = &self.listener {
            let task = Arc::clone(listener).stream_started(channel.to_owned());
            self.runtime.spawn(task);
        }
    }

    /// Tells the service (and the listener) a stream stopped (once, however
    /// it stopped).
    pub fn stream_stopped(&self, stream_id: u64) {
        if let Some(stopped) = self.started.remove(stream_id) {
            self.notify(stopped.stopped_event(stream_id));
            if let Some(listener) = &self.listener {
                let task = Arc::clone(listener).stream_stopped(stopped.channel);
                self.runtime.spawn(task);
            }
        }
    }

    /// Tells the listener a relayed stream ended.
    pub fn relay_closed(&self, channel: String, stream_id: u64) {
        if let Some(listener) = &self.listener {
            let task = Arc::clone(listener).relay_closed(channel, stream_id);
            self.runtime.spawn(task);
        }
    }

    /// Tells the service every live stream stopped, waiting for the calls.
    pub async fn all_streams_stopped(&self) {
        for (stream_id, stopped) in self.started.drain() {
            self.service.notify(&stopped.stopped_event(stream_id)).await;
        }
    }

    /// Sends `event` to the service's webhook, if it has one, without
    /// waiting (an output's events, such as a finished recording).
    pub fn notify(&self, event: serde_json::Value) {
        if self.service.webhook().is_some() {
            let service = self.service.clone();
            self.runtime.spawn(async move {
                service.notify(&event).await;
            });
        }
    }
}
