//! HttpError: a refused request as a status and a one-line reason, sent as
//! plain text, with the headers some statuses must carry.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An HTTP error: a status and a one-line reason, sent as plain text.
#[derive(Debug, Clone)]
pub struct HttpError {
    status: StatusCode,
    reason: String,
    retry_after: Option<u32>,
    /// Adds `WWW-Authenticate: Bearer` (a 401 must say how to authenticate).
    pub www_authenticate: bool,
    /// The `Allow` header of a `405` (RFC 9110 §15.5.6).
    pub allow: Option<&'static str>,
}

impl HttpError {
    /// An error with `status` and `reason`.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
            retry_after: None,
            www_authenticate: false,
            allow: None,
        }
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        tracing::debug!(status = %self.status, reason = %self.reason, "HTTP request refused");
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.reason),
        )
            .into_response();
        if self.www_authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
