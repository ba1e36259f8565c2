//! The FTL control listener: one task per TCP connection on the control
//! runtime, driving `ftl::ServerSession`, authenticating through the
//! Service and asking the engine for a media port.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Instant;

use engine::EngineError;
use ftl::{CloseReason, Event, Output, ServerSession, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::state::AppState;

/// Accepts FTL control connections until the listener fails.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let state = Arc::clone(&state);
                tokio::spawn(async move { handle_connection(stream, peer, state).await });
            }
            Err(error) => tracing::warn!(%error, "FTL accept failed"),
        }
    }
}

/// A stream this connection opened, closed when the connection ends.
struct OpenedMedia {
    channel: String,
    stream_id: u64,
}

async fn handle_connection(mut tcp: TcpStream, peer: SocketAddr, state: Arc<AppState>) {
    let _ = tcp.set_nodelay(true);
    let mut challenge = [0u8; ftl::CHALLENGE_LEN];
    if getrandom::fill(&mut challenge).is_err() {
        tracing::error!("no randomness for the FTL challenge");
        return;
    }
    let mut session = ServerSession::new(Instant::now(), challenge, state.ftl_control.clone());
    let mut opened: Option<OpenedMedia> = None;
    let mut media_timeout: Option<oneshot::Receiver<()>> = None;
    let mut buf = vec![0u8; 4096];
    'connection: loop {
        let deadline = loop {
            match session.poll_output() {
                Output::Send(bytes) => {
                    if tcp.write_all(bytes).await.is_err() {
                        break 'connection;
                    }
                }
                Output::Event(event) => {
                    let now = Instant::now();
                    match event {
                        Event::KeyRequired { channel } => {
                            match state.service.stream_secret(&channel.to_string()) {
                                Some(secret) => session.verify_key(now, secret.as_bytes()),
                                None => {
                                    tracing::info!(%peer, channel, "FTL: unknown channel");
                                    session.terminate(StatusCode::InvalidStreamKey);
                                }
                            }
                        }
                        Event::Authenticated { channel } => {
                            tracing::info!(%peer, channel, "FTL: authenticated")
                        }
                        Event::MediaRequested { channel, metadata } => {
                            let channel = channel.to_string();
                            match state.engine.open_ftl_media(
                                &channel,
                                peer.ip(),
                                metadata.media_params(),
                            ) {
                                Ok(media) => match NonZeroU16::new(media.port) {
                                    Some(port) => {
                                        tracing::info!(%peer, %channel, port = media.port, vendor = ?metadata.vendor_name, "FTL: streaming");
                                        media_timeout =
                                            Some(state.watch_ftl_timeout(media.stream_id));
                                        opened = Some(OpenedMedia {
                                            channel,
                                            stream_id: media.stream_id,
                                        });
                                        session.start_media(now, port);
                                    }
                                    None => session.terminate(StatusCode::InternalServerError),
                                },
                                Err(EngineError::ChannelLive) => {
                                    session.terminate(StatusCode::ChannelInUse)
                                }
                                Err(error) => {
                                    tracing::warn!(%peer, %channel, %error, "FTL: no media port");
                                    session.terminate(StatusCode::InternalServerError);
                                }
                            }
                        }
                        Event::Ping => {}
                        Event::Ignored(why) => tracing::debug!(%peer, ?why, "FTL: line ignored"),
                    }
                }
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
        let timed_out = async {
            match media_timeout.as_mut() {
                Some(receiver) => {
                    let _ = receiver.await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break 'connection,
                Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
            },
            () = tokio::time::sleep_until(deadline.into()) => session.handle_timeout(Instant::now()),
            () = timed_out => {
                media_timeout = None;
                tracing::info!(%peer, "FTL: no media; ending the stream");
                session.terminate(StatusCode::NoMediaTimeout);
            }
        }
    }
    let _ = tcp.shutdown().await;
    if let Some(media) = opened {
        state.forget_ftl_timeout(media.stream_id);
        state
            .engine
            .close_ftl_media(&media.channel, media.stream_id);
    }
}
