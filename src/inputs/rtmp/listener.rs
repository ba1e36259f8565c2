//! The RTMP and RTMPS listeners: bound at start-up (a bad certificate is a
//! start-up error), then one task per connection on the control runtime,
//! at most `max_connections` at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::RtmpSettings;
use super::connection::run_connection;
use crate::control::state::Control;
use crate::net::tls::load_tls;

/// The bound RTMP listeners.
pub struct RtmpListeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, TlsAcceptor)>,
}

impl RtmpListeners {
    /// The plain RTMP address actually bound, if on.
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The RTMPS address actually bound, if on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }
}

/// Binds the listeners `settings` asks for and loads the RTMPS certificate.
pub fn bind(
    runtime: &tokio::runtime::Runtime,
    settings: &RtmpSettings,
) -> io::Result<RtmpListeners> {
    let tls = match &settings.tls {
        Some((address, files)) => {
            let config = load_tls(runtime, files)?;
            let listener = runtime.block_on(TcpListener::bind(address))?;
            Some((listener, TlsAcceptor::from(config.get_inner())))
        }
        None => None,
    };
    let plain = match settings.address {
        Some(address) => Some(runtime.block_on(TcpListener::bind(address))?),
        None => None,
    };
    Ok(RtmpListeners { plain, tls })
}

/// Accepts RTMP and RTMPS connections on `runtime` until it stops.
pub fn serve(
    runtime: &tokio::runtime::Handle,
    listeners: RtmpListeners,
    control: Arc<Control>,
    settings: RtmpSettings,
) {
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    if let Some(listener) = listeners.plain {
        runtime.spawn(accept(
            listener,
            None,
            Arc::clone(&control),
            Arc::clone(&settings),
            Arc::clone(&slots),
        ));
    }
    if let Some((listener, acceptor)) = listeners.tls {
        runtime.spawn(accept(listener, Some(acceptor), control, settings, slots));
    }
}

async fn accept(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    control: Arc<Control>,
    settings: Arc<RtmpSettings>,
    slots: Arc<Semaphore>,
) {
    let scheme = if tls.is_some() { "RTMPS" } else { "RTMP" };
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(%error, "{scheme} accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, limit = settings.max_connections, "{scheme}: too many connections; closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let control = Arc::clone(&control);
        let settings = Arc::clone(&settings);
        let tls = tls.clone();
        let accepted = (peer, tokio::time::Instant::now());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => run_connection(tcp, accepted, control, settings).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(settings.handshake_timeout, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(stream)) => run_connection(stream, accepted, control, settings).await,
                        Ok(Err(error)) => {
                            tracing::info!(%peer, %error, "RTMPS: TLS handshake failed")
                        }
                        Err(_) => tracing::info!(%peer, "RTMPS: TLS handshake timed out"),
                    }
                }
            }
        });
    }
}
