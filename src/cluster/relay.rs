//! Edge relays, node side: a viewer asks for a channel this node does not
//! hold, so the node asks the orchestrators where it is live, opens a WHEP
//! session to that node as a client (the engine's relay), and its viewers
//! then join the local copy. Loops are refused: a relay never pulls from
//! itself, nor from a node whose copy came through it or through any node
//! its own request came through. It pulls from the nearest holder: one in its
//! own region if any (so edges chain: origin → regional edge → edge), else
//! the one fewest hops from the origin.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use engine::{EngineError, EngineHandle};
use tokio::sync::watch;

use super::client::{path, url_with_path};
use super::local::RelayEntry;
use super::{Cluster, RELAY_VIA_HEADER};
use crate::http::HttpError;
use crate::orchestrator::records::StreamRecord;

/// How long a viewer waits for a new relay's first keyframe.
const FIRST_KEYFRAME_WAIT: Duration = Duration::from_secs(5);

/// How long a request waits for the worker that opens the relay.
const WORKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a relay set-up another request started.
const SETUP_WAIT: Duration = Duration::from_secs(30);

/// A relay set-up in flight: its result once known.
pub(super) type Setup = watch::Receiver<Option<Result<(), HttpError>>>;

impl Cluster {
    /// Makes sure `channel` is live here, relaying it from another node if
    /// need be, and waits (boundedly) for its first keyframe. `via` lists
    /// the nodes a relay request came through (empty for a viewer). The
    /// set-up runs as its own task, shared by every request for the channel
    /// meanwhile, so a client that gives up cannot leave it half done.
    pub async fn ensure_relay(
        self: &Arc<Self>,
        engine: &EngineHandle,
        channel: &str,
        via: &[String],
    ) -> Result<(), HttpError> {
        if via.iter().any(|node| node == self.id()) {
            return Err(HttpError::new(
                StatusCode::LOOP_DETECTED,
                "this relay request came through this node already",
            ));
        }
        let setup = {
            let mut opening = self.opening.lock();
            match opening.get(channel) {
                Some(setup) => Some(setup.clone()),
                None if engine.stream(channel).is_some() => None,
                None => {
                    let (done, setup) = watch::channel(None);
                    opening.insert(channel.to_owned(), setup.clone());
                    let cluster = Arc::clone(self);
                    let engine = engine.clone();
                    let channel = channel.to_owned();
                    let via = via.to_vec();
                    tokio::spawn(async move {
                        let opened = cluster.open_relay(&engine, &channel, &via).await;
                        if opened.is_ok() {
                            wait_for_keyframe(&engine, &channel).await;
                        }
                        cluster.opening.lock().remove(&channel);
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
            _ => Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the relay is still being set up; retry shortly",
            )
            .retry_after(1)),
        }
    }

    async fn open_relay(
        &self,
        engine: &EngineHandle,
        channel: &str,
        via: &[String],
    ) -> Result<(), HttpError> {
        if engine.stream(channel).is_some() {
            return Ok(());
        }
        let holders: Vec<StreamRecord> = self
            .client
            .get(&path(&["v1", "streams", channel]))
            .await
            .map_err(|error| {
                tracing::warn!(%channel, %error, "cannot ask where the stream is");
                HttpError::new(StatusCode::BAD_GATEWAY, "the orchestrator is unreachable")
                    .retry_after(1)
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
                    HttpError::new(StatusCode::NOT_FOUND, "no live stream on this channel")
                } else {
                    HttpError::new(
                        StatusCode::LOOP_DETECTED,
                        "the stream is only held by nodes that would relay it in a loop",
                    )
                }
            })?;
        let opening = engine.clone();
        let relay_channel = channel.to_owned();
        let opened =
            tokio::task::spawn_blocking(move || opening.open_relay(&relay_channel, WORKER_TIMEOUT))
                .await
                .map_err(|_| {
                    HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "relay setup failed")
                })?;
        let opened = match opened {
            Ok(opened) => opened,
            // Another request opened it (or a publisher arrived) meanwhile.
            Err(EngineError::ChannelLive) => return Ok(()),
            Err(error) => return Err(crate::http::engine_error(error)),
        };
        let mut chain: Vec<String> = via.to_vec();
        chain.push(me.id.clone());
        let session = self
            .request_upstream(source, channel, opened.offer, &chain)
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
                            self.delete_upstream(resource).await;
                        }
                        Err(HttpError::new(
                            StatusCode::BAD_GATEWAY,
                            format!("the origin's answer could not be used: {error}"),
                        ))
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
                self.delete_upstream(&resource).await;
            }
            return Err(HttpError::new(
                StatusCode::BAD_GATEWAY,
                "the relay closed while it was being set up",
            ));
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

    /// POSTs our offer to the source's WHEP endpoint; returns its answer and
    /// the absolute URL of the session it made.
    async fn request_upstream(
        &self,
        source: &StreamRecord,
        channel: &str,
        offer: String,
        chain: &[String],
    ) -> Result<(String, Option<String>), HttpError> {
        let bad_gateway = |reason: String| {
            tracing::warn!(%channel, upstream = %source.report.node, %reason, "relay refused");
            HttpError::new(
                StatusCode::BAD_GATEWAY,
                format!("could not relay the stream from its origin: {reason}"),
            )
        };
        let endpoint = url_with_path(&source.report.url, &["whep", "endpoint", channel])
            .ok_or_else(|| bad_gateway("the holder's URL is invalid".into()))?;
        let response = self
            .upstream
            .post(&endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .header(RELAY_VIA_HEADER, chain.join(","))
            .bearer_auth(&self.secret)
            .body(offer)
            .send()
            .await
            .map_err(|error| bad_gateway(error.to_string()))?;
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| reqwest::Url::parse(&endpoint).ok()?.join(location).ok())
            .map(|url| url.to_string());
        let body = response
            .text()
            .await
            .map_err(|error| bad_gateway(error.to_string()))?;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            // No keyframe there yet, or no room: the viewer may retry.
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the origin cannot serve the stream yet; retry shortly",
            )
            .retry_after(1));
        }
        if status != reqwest::StatusCode::CREATED {
            let reason: String = body.trim().chars().take(200).collect();
            return Err(bad_gateway(format!("{status} {reason}")));
        }
        Ok((body, location))
    }

    async fn delete_upstream(&self, resource: &str) {
        let deleted = self
            .upstream
            .delete(resource)
            .bearer_auth(&self.secret)
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::debug!(%resource, %error, "upstream session not deleted");
        }
    }

    /// A relay ended: its upstream session is deleted (the origin may not
    /// know yet) and the orchestrators hear that this copy is gone.
    pub async fn relay_closed(&self, engine: &EngineHandle, channel: &str, stream_id: u64) {
        let entry = {
            let mut relays = self.local.relays.lock();
            match relays.get(channel) {
                Some(entry) if entry.stream_id == stream_id => relays.remove(channel),
                _ => None,
            }
        };
        if let Some(resource) = entry.and_then(|entry| entry.upstream_resource) {
            self.delete_upstream(&resource).await;
        }
        self.stream_stopped(engine, channel).await;
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
