//! Publish: an RTMP `publish` turned into a stream. The stream key (the
//! stream name, or the last part of the app when the whole key is in the
//! server URL) is `<channel>-<secret>`, checked against the Service in
//! constant time as for FTL and WHIP; then the engine opens the channel's
//! stream, taking over a live one if allowed.

use std::sync::Arc;

use engine::{EngineError, Ingest, PushedStream, StreamLease};

use crate::control::state::Control;
use crate::net::headers::constant_time_eq;

/// Why a `publish` was refused: the onStatus code and description the
/// client hears (OBS and FFmpeg log the description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub code: &'static str,
    pub description: String,
}

impl Refusal {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// The stream key a client sent: the stream name without a `?query`, or,
/// when that is empty, what follows the app's first `/` (a key put in the
/// server URL, `rtmp://host/live/<key>`).
pub(super) fn stream_key<'a>(app: &'a str, stream_name: &'a str) -> &'a str {
    let name = stream_name.split('?').next().unwrap_or_default();
    if !name.is_empty() {
        return name;
    }
    app.split_once('/')
        .map(|(_, key)| key.split('?').next().unwrap_or_default())
        .unwrap_or_default()
}

/// Checks the key and opens the channel's stream; the channel and the
/// stream, or the refusal to send.
pub(super) async fn open_stream(
    control: &Control,
    key: &str,
    takeover: bool,
) -> Result<(String, PushedStream), Refusal> {
    let (channel, secret) = key
        .split_once('-')
        .filter(|(channel, secret)| !channel.is_empty() && !secret.is_empty())
        .ok_or_else(|| {
            Refusal::new(
                "NetStream.Publish.BadName",
                "the stream key must be <channel>-<secret>",
            )
        })?;
    let expected = control
        .service
        .authorize(channel)
        .await
        .filter(|expected| !expected.is_empty())
        .ok_or_else(|| Refusal::new("NetStream.Publish.Denied", "this channel may not stream"))?;
    if !constant_time_eq(secret.as_bytes(), expected.as_bytes()) {
        return Err(Refusal::new(
            "NetStream.Publish.Denied",
            "invalid stream key",
        ));
    }
    let opened = control
        .engine
        .open_pushed_stream(channel, Ingest::Rtmp, takeover)
        .map_err(|error| match error {
            EngineError::ChannelLive => {
                Refusal::new("NetStream.Publish.BadName", "this channel is already live")
            }
            other => Refusal::new("NetStream.Publish.Failed", other.to_string()),
        })?;
    Ok((channel.to_owned(), opened))
}

/// A live RTMP stream as control knows it: dropping it (however the
/// connection ends) removes the stream and tells the service it stopped.
pub(super) struct LiveStream {
    pub lease: StreamLease,
    pub control: Arc<Control>,
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.control.stream_stopped(self.lease.stream().id());
    }
}

/// The encoder's name and version from `connect`'s flashVer
/// (`FMLE/3.0 (compatible; FMSc/1.0)`, `LNX 9,0,124,2`): split at the first
/// `/` or space.
pub(super) fn vendor(flash_version: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(flash) = flash_version.map(str::trim).filter(|f| !f.is_empty()) else {
        return (None, None);
    };
    match flash.split_once(['/', ' ']) {
        Some((name, version)) => (Some(name.to_owned()), Some(version.trim().to_owned())),
        None => (Some(flash.to_owned()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_stream_name_or_the_end_of_the_app() {
        assert_eq!(stream_key("live", "123-abc"), "123-abc");
        assert_eq!(stream_key("live", "123-abc?token=1"), "123-abc");
        assert_eq!(stream_key("live/123-abc", ""), "123-abc");
        assert_eq!(stream_key("live", ""), "");
    }

    #[test]
    fn the_vendor_is_read_from_flash_version() {
        assert_eq!(
            vendor(Some("FMLE/3.0 (compatible; FMSc/1.0)")),
            (
                Some("FMLE".into()),
                Some("3.0 (compatible; FMSc/1.0)".into())
            )
        );
        assert_eq!(
            vendor(Some("LNX 9,0,124,2")),
            (Some("LNX".into()), Some("9,0,124,2".into()))
        );
        assert_eq!(vendor(Some("")), (None, None));
        assert_eq!(vendor(None), (None, None));
    }
}
