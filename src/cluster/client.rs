//! OrchestratorClient: a node's calls to the orchestrators, each bounded in
//! time and carrying the cluster secret. Several orchestrator URLs may be
//! configured: a call goes to the one that answered last, and on a network
//! error, a timeout or a 5xx, to the next.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an orchestrator call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No orchestrator answered (network errors, timeouts or 5xx from all).
    #[error("no orchestrator answered: {0}")]
    Unreachable(String),
    /// An orchestrator answered with an error (a bad secret, a bad report).
    #[error("the orchestrator refused: {status} {reason}")]
    Refused {
        /// Its status.
        status: u16,
        /// Its one-line reason.
        reason: String,
    },
}

/// The orchestrators of one cluster.
pub struct OrchestratorClient {
    http: reqwest::Client,
    urls: Vec<String>,
    secret: String,
    current: AtomicUsize,
}

impl OrchestratorClient {
    /// A client of the orchestrators at `urls` (through `http`).
    pub fn new(http: reqwest::Client, urls: Vec<String>, secret: String) -> Self {
        Self {
            http,
            urls: urls
                .into_iter()
                .map(|url| url.trim_end_matches('/').to_owned())
                .collect(),
            secret,
            current: AtomicUsize::new(0),
        }
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<(), ClusterError> {
        self.call(|http, base| http.post(format!("{base}{path}")).json(body))
            .await
            .map(|_| ())
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), ClusterError> {
        self.call(|http, base| http.delete(format!("{base}{path}")))
            .await
            .map(|_| ())
    }

    /// `GET path` as JSON; `None` on `404`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ClusterError> {
        match self
            .call(|http, base| http.get(format!("{base}{path}")))
            .await
        {
            Ok(response) => response
                .json()
                .await
                .map(Some)
                .map_err(|error| ClusterError::Unreachable(error.to_string())),
            Err(ClusterError::Refused { status: 404, .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn call(
        &self,
        request: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClusterError> {
        let mut last_error = String::from("no orchestrator configured");
        let first = self.current.load(Ordering::Relaxed);
        for attempt in 0..self.urls.len() {
            let index = (first + attempt) % self.urls.len();
            let base = &self.urls[index];
            let sent = request(&self.http, base)
                .bearer_auth(&self.secret)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(response);
                }
                Ok(response) if response.status().is_client_error() => {
                    self.current.store(index, Ordering::Relaxed);
                    let status = response.status().as_u16();
                    let reason = response.text().await.unwrap_or_default();
                    return Err(ClusterError::Refused {
                        status,
                        reason: reason.trim().chars().take(200).collect(),
                    });
                }
                Ok(response) => last_error = format!("{base}: {}", response.status()),
                Err(error) => last_error = format!("{base}: {error}"),
            }
        }
        Err(ClusterError::Unreachable(last_error))
    }
}

/// `segments` appended to `base` as path segments, each percent-encoded.
pub fn url_with_path(base: &str, segments: &[&str]) -> Option<String> {
    let mut url = reqwest::Url::parse(base).ok()?;
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url.to_string())
}

/// `segments` as an absolute path, each percent-encoded (`/v1/streams/a%2Fb`).
pub fn path(segments: &[&str]) -> String {
    url_with_path("http://orchestrator", segments)
        .and_then(|url| reqwest::Url::parse(&url).ok())
        .map(|url| url.path().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_become_single_path_segments() {
        assert_eq!(
            url_with_path("http://10.0.0.1:8091", &["whep", "endpoint", "1"]).as_deref(),
            Some("http://10.0.0.1:8091/whep/endpoint/1")
        );
        assert_eq!(
            url_with_path("http://a/", &["v1", "streams", "a/b?c"]).as_deref(),
            Some("http://a/v1/streams/a%2Fb%3Fc")
        );
        assert_eq!(url_with_path("not a url", &["x"]), None);
        assert_eq!(
            path(&["v1", "streams", "a b", "start"]),
            "/v1/streams/a%20b/start"
        );
    }
}
