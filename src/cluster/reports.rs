//! Reports, node side: what this node tells the orchestrators: its load
//! and its streams on every heartbeat, a stream published here starting
//! and stopping, and its leaving on a clean stop.

use std::sync::Arc;

use engine::EngineHandle;

use super::client::{OrchestratorClient, path};
use super::local::LocalNode;
use crate::orchestrator::records::StreamStop;

/// This node's reports to its orchestrators.
pub struct Reporter {
    client: Arc<OrchestratorClient>,
    local: Arc<LocalNode>,
    engine: EngineHandle,
}

impl Reporter {
    /// Reports of `local`, whose streams are `engine`'s, through `client`.
    pub fn new(
        client: Arc<OrchestratorClient>,
        local: Arc<LocalNode>,
        engine: EngineHandle,
    ) -> Self {
        Self {
            client,
            local,
            engine,
        }
    }

    fn id(&self) -> &str {
        &self.local.identity().id
    }

    /// Tells the orchestrators a stream published here started.
    pub async fn stream_started(&self, channel: &str) {
        let report = self
            .local
            .stream_report(true, vec![self.id().to_owned()], 0);
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "start"]), &report)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the stream's start");
        }
    }

    /// Tells the orchestrators this node's copy of `channel` ended, unless a
    /// new stream is already live on it.
    pub async fn stream_stopped(&self, channel: &str) {
        if self.engine.stream(channel).is_some() {
            return;
        }
        let stop = StreamStop {
            node: self.id().to_owned(),
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "stop"]), &stop)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the stream's end");
        }
    }

    /// One round of reports: the node's load, then each live stream, all
    /// at once (each call is bounded by the client's timeout).
    pub async fn heartbeat(&self) {
        let local = Arc::clone(&self.local);
        let reading = self.engine.clone();
        // Reading the workers' counters waits on them: not on the runtime.
        let Ok((report, records)) = tokio::task::spawn_blocking(move || {
            (local.node_report(&reading), local.stream_records(&reading))
        })
        .await
        else {
            return;
        };
        if let Err(error) = self
            .client
            .post(&path(&["v1", "nodes", self.id(), "heartbeat"]), &report)
            .await
        {
            tracing::warn!(%error, "node heartbeat failed");
            return;
        }
        let mut calls = tokio::task::JoinSet::new();
        for record in records {
            let client = Arc::clone(&self.client);
            calls.spawn(async move {
                let channel = &record.channel;
                let posted = client
                    .post(
                        &path(&["v1", "streams", channel, "heartbeat"]),
                        &record.report,
                    )
                    .await;
                if let Err(error) = posted {
                    tracing::warn!(%channel, %error, "stream heartbeat failed");
                }
            });
        }
        while calls.join_next().await.is_some() {}
    }

    /// Tells the orchestrators this node leaves (on a clean stop).
    pub async fn leave(&self) {
        if let Err(error) = self.client.delete(&path(&["v1", "nodes", self.id()])).await {
            tracing::warn!(%error, "could not leave the cluster");
        }
    }
}
