//! Upstream: a relay's WHEP calls to the node it pulls from, as a client
//! carrying the cluster secret and the nodes the request came through.

use super::client::url_with_path;
use super::relay_error::RelayError;
use crate::net::headers::constant_time_eq;
use crate::orchestrator::records::StreamRecord;

/// The header a relay's WHEP request carries: the node ids it came
/// through, so that a node that sees itself in it refuses (a loop).
pub const RELAY_VIA_HEADER: &str = "x-waveguide-relay-via";

/// The WHEP client of the nodes relays pull from.
pub struct Upstream {
    http: reqwest::Client,
    secret: String,
}

impl Upstream {
    /// Calls through `http` (bounded in time), authorized with `secret`.
    pub fn new(http: reqwest::Client, secret: String) -> Self {
        Self { http, secret }
    }

    /// Whether `token` is the cluster secret (a relay from another node).
    pub fn is_secret(&self, token: &str) -> bool {
        constant_time_eq(token.as_bytes(), self.secret.as_bytes())
    }

    /// POSTs our offer to the source's WHEP endpoint; returns its answer and
    /// the absolute URL of the session it made.
    pub async fn request(
        &self,
        source: &StreamRecord,
        channel: &str,
        offer: String,
        chain: &[String],
    ) -> Result<(String, Option<String>), RelayError> {
        let refused = |reason: String| {
            tracing::warn!(%channel, upstream = %source.report.node, %reason, "relay refused");
            RelayError::Upstream(reason)
        };
        let endpoint = url_with_path(&source.report.url, &["whep", "endpoint", channel])
            .ok_or_else(|| refused("the holder's URL is invalid".into()))?;
        let response = self
            .http
            .post(&endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .header(RELAY_VIA_HEADER, chain.join(","))
            .bearer_auth(&self.secret)
            .body(offer)
            .send()
            .await
            .map_err(|error| refused(error.to_string()))?;
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
            .map_err(|error| refused(error.to_string()))?;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err(RelayError::UpstreamNotReady);
        }
        if status != reqwest::StatusCode::CREATED {
            let reason: String = body.trim().chars().take(200).collect();
            return Err(refused(format!("{status} {reason}")));
        }
        Ok((body, location))
    }

    /// Deletes the upstream session at `resource` (best effort).
    pub async fn delete(&self, resource: &str) {
        let deleted = self
            .http
            .delete(resource)
            .bearer_auth(&self.secret)
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::debug!(%resource, %error, "upstream session not deleted");
        }
    }
}
