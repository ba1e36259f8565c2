//! Edge relays, node side: a viewer asks for a channel this node does not
//! hold, so the node asks the orchestrators where it is live, opens a WHEP
//! session to that node as a client (the engine's relay), and its viewers
//! then join the local copy. Loops are refused: a relay never pulls from
//! itself, nor from a node whose copy came through it or through any node
//! its own request came through. It pulls from the nearest holder: one in its
//! own region if any (so edges chain: origin → regional edge → edge), else
//! the one fewest hops from the origin.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::{EngineError, EngineHandle};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::client::{OrchestratorClient, path};
use super::local::{LocalNode, RelayEntry};
use super::relay_error::RelayError;
use super::upstream::Upstream;
use crate::orchestrator::records::StreamRecord;

/// How long a viewer waits for a new relay's first keyframe.
const FIRST_KEYFRAME_WAIT: Duration = Duration::from_secs(5);

/// How long a request waits for the worker that opens the relay.
const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a relay set-up another request started.
const SETUP_WAIT: Duration = Duration::from_secs(30);

/// A relay set-up in flight: its result once known.
type Setup = watch::Receiver<Option<Result<(), RelayError>>>;

/// The relays of this node: the ones being set up, and how.
pub struct Relays {
    client: Arc<OrchestratorClient>,
    local: Arc<LocalNode>,
    engine: EngineHandle,
    upstream: Upstream,
    /// Relay set-ups in flight, by channel: one per channel at a time.
    opening: Mutex<HashMap<String, Setup>>,
}

impl Relays {
    /// Relays of `local` onto `engine`, asking `client` where streams are
    /// and pulling them through `upstream`.
    pub fn new(
        client: Arc<OrchestratorClient>,
        local: Arc<LocalNode>,
        engine: EngineHandle,
        upstream: Upstream,
    ) -> Self {
        Self {
            client,
            local,
            engine,
            upstream,
            opening: Mutex::new(HashMap::new()),
        }
    }

    /// The nodes a WHEP request came through, from its `via` header: only
    /// another node (holding the cluster secret as its Bearer `token`) says
    /// so; a viewer's header is ignored. Empty for a viewer.
    pub fn relay_chain(&self, token: Option<&str>, via: Option<&str>) -> Vec<String> {
        let from_node = token.is_some_and(|token| self.upstream.is_secret(token));
        via.filter(|_| from_node)
            .map(|via| {
                via.split(',')
                    .map(str::trim)
                    .filter(|node| !node.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Makes sure `channel` is live here, relaying it from another node if
    /// need be, and waits (boundedly) for its first keyframe. `via` lists
    /// the nodes a relay request came through (empty for a viewer). The
    /// set-up runs as its own task, shared by every request for the channel
    /// meanwhile, so a client that gives up cannot leave it half done.
    pub async fn ensure(self: &Arc<Self>, channel: &str, via: &[String]) -> Result<(), RelayError> {
        if via.iter().any(|node| *node == self.local.identity().id) {
            return Err(RelayError::CameThroughHere);
        }
        let setup = {
            let mut opening = self.opening.lock();
            match opening.get(channel) {
                Some(setup) => Some(setup.clone()),
                None if self.engine.stream(channel).is_some() => None,
                None => {
                    let (done, setup) = watch::channel(None);
                    opening.insert(channel.to_owned(), setup.clone());
                    let relays = Arc::clone(self);
                    let channel = channel.to_owned();
                    let via = via.to_vec();
                    tokio::spawn(async move {
                        let opened = relays.open(&channel, &via).await;
                        if opened.is_ok() {
                            wait_for_keyframe(&relays.engine, &channel).await;
                        }
                        relays.opening.lock().remove(&channel);
                        done.send_replace(Some(opened));
                    });
                    Some(setup)
                }
            }
        };
        // Held already: published here, or a relay whose set-up is done.
        let Some(mut setup) = setup else {
            return Ok(());
        };
        let outcome = tokio::time::timeout(SETUP_WAIT, setup.wait_for(Option::is_some)).await;
        match outcome {
            Ok(Ok(result)) => result.clone().unwrap_or(Ok(())),
            _ => Err(RelayError::StillSettingUp),
        }
    }

    async fn open(&self, channel: &str, via: &[String]) -> Result<(), RelayError> {
        let engine = &self.engine;
        if engine.stream(channel).is_some() {
            return Ok(());
        }
        let holders: Vec<StreamRecord> = self
            .client
            .get(&path(&["v1", "streams", channel]))
            .await
            .map_err(|error| {
                tracing::warn!(%channel, %error, "cannot ask where the stream is");
                RelayError::OrchestratorUnreachable
            })?
            .unwrap_or_default();
        let me = self.local.identity();
        let source = holders
            .iter()
            .filter(|h| {
                h.report.node != me.id
                    && !h.report.path.contains(&me.id)
                    && !via.contains(&h.report.node)
            })
            // Nearest first (a holder in this region, then the fewest hops
            // from the origin), then the least watched.
            .min_by_key(|h| {
                (
                    h.report.region != me.region,
                    h.report.path.len(),
                    h.report.viewers,
                )
            })
            .ok_or_else(|| {
                // A record of this node itself is stale (it does not hold the
                // stream, or it would not be here): the stream is not live.
                if holders.iter().all(|h| h.report.node == me.id) {
                    RelayError::NotLive
                } else {
                    RelayError::OnlyLoopingHolders
                }
            })?;
        let opening = engine.clone();
        let relay_channel = channel.to_owned();
        let opened =
            tokio::task::spawn_blocking(move || opening.open_relay(&relay_channel, WORKER_TIMEOUT))
                .await
                .map_err(|_| RelayError::SetupFailed)?;
        let opened = match opened {
            Ok(opened) => opened,
            // Another request opened it (or a publisher arrived) meanwhile.
            Err(EngineError::ChannelLive) => return Ok(()),
            Err(error) => return Err(RelayError::Engine(Arc::new(error))),
        };
        let mut chain: Vec<String> = via.to_vec();
        chain.push(me.id.clone());
        let session = self
            .upstream
            .request(source, channel, opened.offer, &chain)
            .await;
        let accepted = match session {
            Ok((answer, resource)) => {
                let accepting = engine.clone();
                let accepted = tokio::task::spawn_blocking(move || {
                    accepting
                        .accept_answer(opened.id, answer)?
                        .wait(WORKER_TIMEOUT)?
                })
                .await
                .map_err(|_| EngineError::WorkerUnavailable)
                .and_then(|accepted| accepted);
                match accepted {
                    Ok(()) => Ok(resource),
                    Err(error) => {
                        if let Some(resource) = &resource {
                            self.upstream.delete(resource).await;
                        }
                        Err(RelayError::UnusableAnswer(error.to_string()))
                    }
                }
            }
            Err(error) => Err(error),
        };
        let resource = match accepted {
            Ok(resource) => resource,
            Err(error) => {
                let _ = engine.close_publisher(opened.id);
                return Err(error);
            }
        };
        let mut path_here = source.report.path.clone();
        path_here.push(me.id.clone());
        tracing::info!(%channel, from = %source.report.node, path = ?path_here, "relay opened");
        self.local.relays.lock().insert(
            channel.to_owned(),
            RelayEntry {
                stream_id: opened.stream_id,
                path: path_here.clone(),
                upstream_resource: resource,
            },
        );
        if engine.stream(channel).map(|s| s.id()) != Some(opened.stream_id) {
            // It closed while being set up: its close found no entry to
            // clean up, so this does, and nothing is reported.
            let entry = self.local.relays.lock().remove(channel);
            if let Some(resource) = entry.and_then(|entry| entry.upstream_resource) {
                self.upstream.delete(&resource).await;
            }
            return Err(RelayError::ClosedDuringSetup);
        }
        let report = self.local.stream_report(false, path_here, 0);
        if let Err(error) = self
            .client
            .post(&path(&["v1", "streams", channel, "start"]), &report)
            .await
        {
            tracing::warn!(%channel, %error, "could not report the relay");
        }
        Ok(())
    }

    /// A relay ended: its upstream session is deleted (the origin may not
    /// know yet). The orchestrators are told by the caller.
    pub async fn closed(&self, channel: &str, stream_id: u64) {
        let entry = {
            let mut relays = self.local.relays.lock();
            match relays.get(channel) {
                Some(entry) if entry.stream_id == stream_id => relays.remove(channel),
                _ => None,
            }
        };
        if let Some(resource) = entry.and_then(|entry| entry.upstream_resource) {
            self.upstream.delete(&resource).await;
        }
    }
}

/// Waits until the channel's stream has sent its first keyframe (its SPS),
/// so the viewer that caused the relay is not told to retry.
async fn wait_for_keyframe(engine: &EngineHandle, channel: &str) {
    let deadline = tokio::time::Instant::now() + FIRST_KEYFRAME_WAIT;
    while tokio::time::Instant::now() < deadline {
        match engine.stream(channel) {
            Some(stream) if stream.sps().is_some() => return,
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            None => return,
        }
    }
}
