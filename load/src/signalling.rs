//! WHIP and WHEP signalling over HTTP: POST an SDP offer, take the answer and
//! the resource URL, DELETE it at the end. A `503` with `Retry-After` (a
//! stream with no keyframe yet) is retried until a deadline; redirects are
//! followed with the offer re-sent.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};

/// Why an offer got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The request did not complete.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("server refused the offer: {status} {reason}")]
    Refused {
        /// The status.
        status: StatusCode,
        /// The response body, which says why.
        reason: String,
    },
    /// The server kept answering `503` until the deadline.
    #[error("stream not ready before the deadline")]
    NotReady,
}

/// An accepted offer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The SDP answer.
    pub answer: String,
    /// The resource to DELETE, as an absolute URL.
    pub resource: Option<reqwest::Url>,
}

/// A blocking HTTP client for one server.
#[derive(Debug, Clone)]
pub struct Signalling {
    client: Client,
    base: reqwest::Url,
}

impl Signalling {
    /// A client for the server at `base` (such as `http://127.0.0.1:8091`,
    /// or an `https://` one whose certificate the system trusts).
    pub fn new(base: &str) -> Result<Self, SignalError> {
        // reqwest's rustls needs a process-wide provider (a second install
        // is harmless).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let base = reqwest::Url::parse(base).map_err(|e| SignalError::Refused {
            status: StatusCode::BAD_REQUEST,
            reason: format!("bad server URL {base}: {e}"),
        })?;
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(4)
            .build()?;
        Ok(Self { client, base })
    }

    /// POSTs `offer` to `path`, retrying `503`s until `deadline`.
    pub fn offer(
        &self,
        path: &str,
        offer: &str,
        bearer: Option<&str>,
        deadline: Instant,
    ) -> Result<Session, SignalError> {
        let url = self.base.join(path).map_err(|e| SignalError::Refused {
            status: StatusCode::BAD_REQUEST,
            reason: format!("bad path {path}: {e}"),
        })?;
        loop {
            let mut request = self
                .client
                .post(url.clone())
                .header(CONTENT_TYPE, "application/sdp")
                .body(offer.to_owned());
            if let Some(token) = bearer {
                request = request.header(AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = request.send()?;
            let status = response.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                let wait = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or(Duration::from_secs(1), Duration::from_secs)
                    .min(Duration::from_secs(2));
                if Instant::now() + wait >= deadline {
                    return Err(SignalError::NotReady);
                }
                std::thread::sleep(wait);
                continue;
            }
            if status != StatusCode::CREATED {
                let reason = response.text().unwrap_or_default();
                return Err(SignalError::Refused { status, reason });
            }
            let resource = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| response.url().join(location).ok());
            let answer = response.text()?;
            return Ok(Session { answer, resource });
        }
    }

    /// Ends a session; errors are ignored (the server times sessions out).
    pub fn delete(&self, resource: &reqwest::Url) {
        let _ = self.client.delete(resource.clone()).send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a workspace build reqwest has rustls without a built-in provider
    /// (the server needs aws-lc-rs): the load tool, alone in its process,
    /// must still build its client.
    #[test]
    fn a_client_builds_in_a_process_that_installed_no_tls_provider() {
        assert!(Signalling::new("http://127.0.0.1:8091").is_ok());
        assert!(Signalling::new("https://127.0.0.1:8443").is_ok());
    }
}
