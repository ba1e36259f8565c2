//! The FTL control listener: one task per TCP connection on the control
//! runtime, driving `ftl::ServerSession`, authenticating through the
//! Service and asking the engine for a media port.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Instant;

use ftl::{CloseReason, Event, Output, ServerSession, StatusCode, StreamMetadata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::control::state::Control;

/// Accepts FTL control connections until the listener fails; each session
/// keeps to `limits` (handshake and PING deadlines, line length).
pub async fn serve(listener: TcpListener, control: Arc<Control>, limits: ftl::ServerConfig) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let control = Arc::clone(&control);
                let limits = limits.clone();
                tokio::spawn(async move { handle_connection(stream, peer, control, limits).await });
            }
            Err(error) => tracing::warn!(%error, "FTL accept failed"),
        }
    }
}

/// A stream this connection opened. Dropping it closes the stream, however
/// the connection task ends (returned, failed or aborted).
struct OpenedMedia {
    channel: String,
    stream_id: u64,
    control: Arc<Control>,
}

impl Drop for OpenedMedia {
    fn drop(&mut self) {
        self.control.ftl.forget_stream_end(self.stream_id);
        self.control
            .engine
            .close_ftl_media(&self.channel, self.stream_id);
        self.control.stream_stopped(self.stream_id);
    }
}

/// One connection's state beside its protocol session.
struct Connection {
    peer: SocketAddr,
    control: Arc<Control>,
    opened: Option<OpenedMedia>,
    stream_end: Option<oneshot::Receiver<StatusCode>>,
}

impl Connection {
    async fn on_event(&mut self, session: &mut ServerSession, event: Event) {
        let peer = self.peer;
        match event {
            Event::KeyRequired { channel } => {
                match self.control.service.authorize(&channel.to_string()).await {
                    // The lookup may take a while: the clock is read after it.
                    Some(secret) => session.verify_key(Instant::now(), secret.as_bytes()),
                    None => {
                        tracing::info!(%peer, channel, "FTL: channel may not stream");
                        session.terminate(StatusCode::InvalidStreamKey);
                    }
                }
            }
            Event::Authenticated { channel } => {
                tracing::info!(%peer, channel, "FTL: authenticated")
            }
            Event::MediaRequested { channel, metadata } => {
                self.open_media(session, channel.to_string(), &metadata)
            }
            Event::Ping => {}
            Event::Ignored(why) => tracing::debug!(%peer, ?why, "FTL: line ignored"),
        }
    }

    fn open_media(
        &mut self,
        session: &mut ServerSession,
        channel: String,
        metadata: &StreamMetadata,
    ) {
        let peer = self.peer;
        // Takeover: an authenticated encoder replaces the channel's stream, as
        // janus does, so a reconnect after a network blip is not locked out
        // (FTL-SPEC §5).
        let opened =
            self.control
                .engine
                .open_ftl_media(&channel, peer.ip(), metadata.media_params(), true);
        let media = match opened {
            Ok(media) => media,
            Err(error) => {
                tracing::warn!(%peer, %channel, %error, "FTL: no media port");
                session.terminate(StatusCode::InternalServerError);
                return;
            }
        };
        let Some(port) = NonZeroU16::new(media.port) else {
            session.terminate(StatusCode::InternalServerError);
            return;
        };
        if let Some(replaced) = media.replaced {
            tracing::info!(%peer, %channel, "FTL: stream taken over");
            self.control
                .ftl
                .end_stream(replaced, StatusCode::ServerTerminate);
        }
        tracing::info!(%peer, %channel, port = media.port, vendor = ?metadata.vendor_name, "FTL: streaming");
        self.stream_end = Some(self.control.ftl.watch_stream_end(media.stream_id));
        let vendor = (
            metadata.vendor_name.clone(),
            metadata.vendor_version.clone(),
        );
        self.control
            .stream_started(media.stream_id, &channel, "ftl", vendor);
        self.opened = Some(OpenedMedia {
            channel,
            stream_id: media.stream_id,
            control: Arc::clone(&self.control),
        });
        session.start_media(Instant::now(), port);
    }
}

async fn handle_connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    control: Arc<Control>,
    limits: ftl::ServerConfig,
) {
    let _ = tcp.set_nodelay(true);
    let mut challenge = [0u8; ftl::CHALLENGE_LEN];
    if getrandom::fill(&mut challenge).is_err() {
        tracing::error!("no randomness for the FTL challenge");
        return;
    }
    let mut session = ServerSession::new(Instant::now(), challenge, limits);
    let mut connection = Connection {
        peer,
        control,
        opened: None,
        stream_end: None,
    };
    let mut buf = vec![0u8; 4096];
    let mut shutdown = connection.control.ftl.shutdown_signal();
    connection.control.ftl.count(true);
    'connection: loop {
        let deadline = loop {
            match session.poll_output() {
                Output::Send(bytes) => {
                    if tcp.write_all(bytes).await.is_err() {
                        break 'connection;
                    }
                }
                Output::Event(event) => connection.on_event(&mut session, event).await,
                Output::Close(reason) => {
                    match reason {
                        CloseReason::ClientDisconnected => {
                            tracing::info!(%peer, "FTL: client disconnected")
                        }
                        CloseReason::Error(error) => {
                            tracing::info!(%peer, %error, status = %error.status(), "FTL: session ended")
                        }
                        CloseReason::Terminated(status) => {
                            tracing::info!(%peer, %status, "FTL: session terminated")
                        }
                    }
                    break 'connection;
                }
                Output::Timeout(deadline) => break deadline,
            }
        };
        let ended = async {
            match connection.stream_end.as_mut() {
                Some(receiver) => receiver.await.unwrap_or(StatusCode::ServerTerminate),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break 'connection,
                Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            },
            () = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(Instant::now()),
            status = ended => {
                connection.stream_end = None;
                tracing::info!(%peer, %status, "FTL: stream ended by the server");
                session.terminate(status);
            }
            // The node is stopping: the client hears 410 rather than a silent
            // close, which would kill ftl_app with SIGPIPE (FTL-SPEC §3.5).
            _ = shutdown.wait_for(|stopping| *stopping) => session.terminate(StatusCode::ServerTerminate),
        }
    }
    let _ = tcp.shutdown().await;
    drop(connection.opened.take());
    connection.control.ftl.count(false);
}
