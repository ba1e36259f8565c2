//! One RTMP connection: the client's bytes into the sans-IO
//! `rtmp::ServerSession`, its answers back out, and its events acted on:
//! `publish` checked and the stream opened (`publish.rs`), then video to
//! `VideoIngest` and audio to `AudioIngest`. Deadlines: publishing must
//! start within the handshake timeout, a publishing client silent for the
//! idle timeout is gone, a client that stops reading is dropped after the
//! write timeout. A stream taken over is ended with a status the client logs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtmp::{ServerSession, SessionEvent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::RtmpSettings;
use super::audio::AudioIngest;
use super::publish::{LiveStream, open_stream, stream_key, vendor};
use super::video::{VideoError, VideoIngest};
use crate::control::state::Control;
use crate::net::headers::channel_of_stream_key;

/// How often a publishing connection looks whether its stream was taken over.
const TAKEOVER_CHECK: Duration = Duration::from_millis(250);

/// Why a connection ends on our side.
#[derive(Debug)]
enum Close {
    /// The client stopped publishing (FCUnpublish, deleteStream).
    Unpublished,
    /// We refused or ended its stream; the status is in the output.
    Refused,
}

/// A stream being published on this connection.
struct Publishing {
    video: VideoIngest,
    audio: AudioIngest,
    /// When media last arrived (or publishing started): the idle deadline
    /// counts from it, not from pings or acknowledgements.
    last_media: Instant,
    /// Dropped last: the stream ends after its ingest stopped.
    _live: LiveStream,
}

/// One connection's state beside its protocol session.
struct Connection {
    peer: SocketAddr,
    control: Arc<Control>,
    settings: Arc<RtmpSettings>,
    app: String,
    flash_version: Option<String>,
    publishing: Option<Publishing>,
}

/// Serves one RTMP (or RTMPS, once its TLS handshake is done) connection
/// until it closes.
pub(super) async fn run_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    (peer, accepted): (SocketAddr, Instant),
    control: Arc<Control>,
    settings: Arc<RtmpSettings>,
) {
    let mut session = ServerSession::new();
    // One deadline from accept, the TLS handshake included.
    let handshake_deadline = accepted + settings.handshake_timeout;
    let mut connection = Connection {
        peer,
        control,
        settings: Arc::clone(&settings),
        app: String::new(),
        flash_version: None,
        publishing: None,
    };
    let mut buf = vec![0u8; 16 * 1024];
    let mut takeover_check = tokio::time::interval(TAKEOVER_CHECK);
    loop {
        let deadline = match &connection.publishing {
            Some(publishing) => publishing.last_media + settings.idle_timeout,
            None => handshake_deadline,
        };
        tokio::select! {
            read = io.read(&mut buf) => {
                let n = match read {
                    Ok(0) => {
                        tracing::info!(%peer, "RTMP: client disconnected");
                        break;
                    }
                    Ok(n) => n,
                    Err(error) => {
                        tracing::info!(%peer, %error, "RTMP: read failed");
                        break;
                    }
                };
                let received = session.receive(&buf[..n]);
                let mut close = None;
                while let Some(event) = session.poll_event() {
                    if let Err(why) = connection.on_event(&mut session, event).await {
                        close = Some(why);
                        break;
                    }
                }
                let written = write_output(&mut io, &mut session, settings.write_timeout).await;
                if let Err(error) = received {
                    tracing::info!(%peer, %error, "RTMP: session ended");
                    break;
                }
                if let Some(why) = close {
                    tracing::info!(%peer, ?why, "RTMP: connection closed");
                    break;
                }
                if !written {
                    tracing::info!(%peer, "RTMP: the client does not read; closed");
                    break;
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                let phase = if connection.publishing.is_some() { "no media" } else { "publishing did not start" };
                tracing::info!(%peer, phase, "RTMP: timed out");
                break;
            }
            _ = takeover_check.tick() => {
                if connection.publishing.as_ref().is_some_and(|p| p.video.is_ended()) {
                    tracing::info!(%peer, "RTMP: stream ended by the server (taken over, or stopped by the service)");
                    session.end_publish("the server ended this stream: another publisher took over the channel, or the service stopped it");
                    write_output(&mut io, &mut session, settings.write_timeout).await;
                    break;
                }
            }
        }
    }
    // The stream ends first: a client that stopped reading must not hold
    // its channel while the socket's shutdown waits.
    drop(connection.publishing.take());
    let _ = tokio::time::timeout(settings.write_timeout, io.shutdown()).await;
}

/// The app's name without what follows its first `/`, which may be the
/// stream key (`rtmp://host/live/<key>`), for the log.
fn app_name(app: &str) -> &str {
    app.split('/').next().unwrap_or_default()
}

/// Writes what the session has to send; false if the client did not take
/// it within `timeout` (or the write failed).
async fn write_output<S: AsyncWrite + Unpin>(
    io: &mut S,
    session: &mut ServerSession,
    timeout: Duration,
) -> bool {
    let output = session.take_output();
    if output.is_empty() {
        return true;
    }
    let write = async {
        io.write_all(&output).await?;
        io.flush().await
    };
    matches!(tokio::time::timeout(timeout, write).await, Ok(Ok(())))
}

impl Connection {
    async fn on_event(
        &mut self,
        session: &mut ServerSession,
        event: SessionEvent,
    ) -> Result<(), Close> {
        let peer = self.peer;
        match event {
            SessionEvent::Connect {
                app, flash_version, ..
            } => {
                tracing::debug!(%peer, app = app_name(&app), ?flash_version, "RTMP: connect");
                self.app = app;
                self.flash_version = flash_version;
            }
            SessionEvent::Publish { stream_name } => self.publish(session, &stream_name).await?,
            SessionEvent::Video { timestamp, tag } => {
                if let Some(publishing) = &mut self.publishing {
                    publishing.last_media = Instant::now();
                    match publishing.video.on_tag(timestamp, tag) {
                        Ok(()) => {}
                        Err(error @ VideoError::BFrames) => {
                            tracing::warn!(%peer, %error, "RTMP: stream refused");
                            session.end_publish(&error.to_string());
                            return Err(Close::Refused);
                        }
                        Err(error) => tracing::debug!(%peer, %error, "RTMP: video tag dropped"),
                    }
                }
            }
            SessionEvent::Audio { timestamp, tag } => {
                if let Some(publishing) = &mut self.publishing {
                    publishing.last_media = Instant::now();
                    publishing.audio.on_tag(timestamp, tag);
                }
            }
            SessionEvent::Metadata(metadata) => {
                tracing::debug!(%peer, ?metadata, "RTMP: stream metadata");
            }
            SessionEvent::Unpublish => return Err(Close::Unpublished),
        }
        Ok(())
    }

    async fn publish(
        &mut self,
        session: &mut ServerSession,
        stream_name: &str,
    ) -> Result<(), Close> {
        let peer = self.peer;
        let key = stream_key(&self.app, stream_name).to_owned();
        let (channel, stream) = match open_stream(&self.control, &key, self.settings.takeover).await
        {
            Ok(opened) => opened,
            Err(refusal) => {
                // Never the key itself: a bare secret has no channel part.
                let channel = channel_of_stream_key(&key).unwrap_or("?");
                tracing::info!(%peer, channel, code = refusal.code, reason = %refusal.description, "RTMP: publish refused");
                session.reject_publish(refusal.code, &refusal.description);
                return Err(Close::Refused);
            }
        };
        let stream_id = stream.lease.stream().id();
        if let Some(replaced) = stream.lease.replaced() {
            tracing::info!(%peer, %channel, "RTMP: stream taken over");
            // An FTL connection that lost its channel hears 410.
            self.control
                .ftl
                .end_stream(replaced, ftl::StatusCode::ServerTerminate);
        }
        let audio = match AudioIngest::start(stream.audio, channel.clone(), stream_id) {
            Ok(audio) => audio,
            Err(error) => {
                tracing::error!(%peer, %channel, %error, "RTMP: no audio thread");
                session.reject_publish(
                    "NetStream.Publish.Failed",
                    "the server could not start the stream",
                );
                return Err(Close::Refused);
            }
        };
        let vendor = vendor(self.flash_version.as_deref());
        tracing::info!(%peer, %channel, app = app_name(&self.app), vendor = ?vendor.0, "RTMP: streaming");
        self.control
            .stream_started(stream_id, &channel, "rtmp", vendor);
        self.publishing = Some(Publishing {
            video: VideoIngest::new(stream.video),
            audio,
            last_media: Instant::now(),
            _live: LiveStream {
                lease: stream.lease,
                control: Arc::clone(&self.control),
            },
        });
        session.accept_publish();
        Ok(())
    }
}
