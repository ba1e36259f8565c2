//! ServiceClient: the calls a Service makes: a webhook asked for a
//! channel's secret or a viewer's permission, and told about every stream,
//! each call bounded in time and retried on network errors and 5xx.

use std::time::Duration;

use serde_json::{Value, json};

use super::service::{Service, Webhook};

/// The service with what it needs to make calls.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    service: Service,
    http: reqwest::Client,
}

impl ServiceClient {
    /// A client for `service` (its HTTP client can fail to build only if
    /// the system's TLS roots cannot be loaded).
    pub fn new(service: Service) -> std::io::Result<Self> {
        crate::net::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|error| std::io::Error::other(format!("HTTP client: {error}")))?;
        Ok(Self { service, http })
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The webhook, if that is the service.
    pub fn webhook(&self) -> Option<&Webhook> {
        match &self.service {
            Service::Webhook(webhook) => Some(webhook),
            _ => None,
        }
    }

    /// The secret `channel` streams with, or `None` if it may not stream.
    /// A webhook answers `200 {"secret": "..."}`; anything else, a timeout
    /// or an unreachable endpoint refuses (fail closed).
    pub async fn authorize(&self, channel: &str) -> Option<String> {
        if self.webhook().is_none() {
            return self.service.stream_secret(channel);
        }
        let reply = self
            .call(&json!({ "event": "authorize", "channel": channel }))
            .await?;
        reply
            .get("secret")
            .and_then(Value::as_str)
            .filter(|secret| !secret.is_empty())
            .map(str::to_owned)
    }

    /// Whether a viewer holding `token` (its Bearer token, if it sent one)
    /// may watch `channel`: always without viewer auth; otherwise the
    /// webhook must answer 2xx to `authorize_viewer` (fail closed).
    pub async fn authorize_viewer(&self, channel: &str, token: Option<&str>) -> bool {
        self.allows_every_viewer()
            || self
                .call(&json!({ "event": "authorize_viewer", "channel": channel, "token": token }))
                .await
                .is_some()
    }

    /// Whether every viewer may watch every channel (no webhook with
    /// viewer auth): nothing needs asking.
    pub fn allows_every_viewer(&self) -> bool {
        !self.webhook().is_some_and(|webhook| webhook.viewer_auth)
    }

    /// Tells the webhook about `event` (`stream_started`, `stream_stopped`,
    /// `metadata`). True if it answered 2xx (always true without a webhook).
    pub async fn notify(&self, event: &Value) -> bool {
        self.webhook().is_none() || self.call(event).await.is_some()
    }

    /// POSTs `body`, retrying network errors and 5xx answers; the JSON reply
    /// of a 2xx answer (`Null` if it has none), or `None`.
    async fn call(&self, body: &Value) -> Option<Value> {
        let webhook = self.webhook()?;
        let timeout = Duration::from_millis(webhook.timeout_ms);
        for attempt in 0..=webhook.retries {
            let sent = self
                .http
                .post(&webhook.url)
                .timeout(timeout)
                .json(body)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    return Some(response.json::<Value>().await.unwrap_or(Value::Null));
                }
                Ok(response) if response.status().is_client_error() => {
                    tracing::debug!(status = %response.status(), "webhook refused");
                    return None;
                }
                Ok(response) => {
                    tracing::warn!(status = %response.status(), attempt, "webhook failed")
                }
                Err(error) => tracing::warn!(%error, attempt, "webhook unreachable"),
            }
        }
        None
    }
}
