//! Engine: binds every worker's sockets, starts one thread per worker, and
//! stops them; owns the lifecycle events' receiver.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, unbounded};

use crate::config::EngineConfig;
use crate::event::EngineEvent;
use crate::handle::{EngineHandle, WorkerLink};
use crate::negotiation::RtcBase;
use crate::pushed::FollowerWakers;
use crate::registry::{Limits, StreamRegistry};
use crate::udp::{bind_udp, bind_udp_with};
use crate::worker::{WAKER, Worker, WorkerSetup};

/// The running engine: its handle, its events and its threads.
pub struct Engine {
    handle: EngineHandle,
    events: Receiver<EngineEvent>,
    threads: Vec<JoinHandle<()>>,
}

/// One worker's sockets, bound before any thread starts.
struct Bound {
    poll: mio::Poll,
    socket: std::net::UdpSocket,
    address: SocketAddr,
    inbox: Receiver<crate::inbox::Command>,
    viewers: Arc<AtomicUsize>,
    tcp: Option<(TcpListener, SocketAddr)>,
    extra: Vec<(std::net::UdpSocket, SocketAddr)>,
}

impl Engine {
    /// Binds every worker's socket and starts the workers.
    pub fn start(config: EngineConfig) -> io::Result<Self> {
        let workers = config.workers.clamp(1, 64);
        let (events_tx, events) = unbounded();
        let base = RtcBase::new()?;
        let mut links = Vec::with_capacity(workers);
        let mut bound = Vec::with_capacity(workers);
        for index in 0..workers {
            let port = if config.webrtc_port_base == 0 {
                0
            } else {
                config.webrtc_port_base.saturating_add(index as u16)
            };
            let socket = bind_udp(
                SocketAddr::new(config.webrtc_bind, port),
                config.socket_buffer_bytes,
            )?;
            let address = SocketAddr::new(config.public_ip, socket.local_addr()?.port());
            // ICE-TCP listens on the same port number when the port is fixed.
            let tcp = if config.ice_tcp {
                let listener = TcpListener::bind(SocketAddr::new(config.webrtc_bind, port))?;
                let announced = SocketAddr::new(config.public_ip, listener.local_addr()?.port());
                Some((listener, announced))
            } else {
                None
            };
            let mut extra = Vec::with_capacity(config.extra_interfaces.len());
            for interface in &config.extra_interfaces {
                let socket = bind_udp_with(
                    SocketAddr::new(interface.bind, port),
                    config.socket_buffer_bytes,
                    true,
                )?;
                let announced = SocketAddr::new(interface.public_ip, socket.local_addr()?.port());
                extra.push((socket, announced));
            }
            let poll = mio::Poll::new()?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
            let (commands, inbox) = unbounded();
            let viewers = Arc::new(AtomicUsize::new(0));
            links.push(WorkerLink {
                commands,
                waker: Arc::clone(&waker),
                viewers: Arc::clone(&viewers),
                address,
            });
            bound.push(Bound {
                poll,
                socket,
                address,
                inbox,
                viewers,
                tcp,
                extra,
            });
        }
        let wakers: Arc<[Arc<mio::Waker>]> = links.iter().map(|l| Arc::clone(&l.waker)).collect();
        let wake_pending: Arc<[AtomicBool]> =
            (0..workers).map(|_| AtomicBool::new(false)).collect();
        let mut threads = Vec::with_capacity(workers);
        for (index, bound) in bound.into_iter().enumerate() {
            let worker = Worker::new(WorkerSetup {
                index,
                poll: bound.poll,
                socket: bound.socket,
                address: bound.address,
                inbox: bound.inbox,
                wakers: Arc::clone(&wakers),
                wake_pending: Arc::clone(&wake_pending),
                events: events_tx.clone(),
                rtc_base: base.clone(),
                viewers: bound.viewers,
                config: config.clone(),
                tcp: bound.tcp,
                extra: bound.extra,
            })?;
            threads.push(
                std::thread::Builder::new()
                    .name(format!("waveguide-worker-{index}"))
                    .spawn(move || worker.run())?,
            );
        }
        let limits = Limits {
            max_streams: config.max_streams,
            max_viewers_per_stream: config.max_viewers_per_stream,
            max_viewers_total: config.max_viewers_total,
        };
        let followers = FollowerWakers {
            wakers,
            pending: wake_pending,
        };
        let handle = EngineHandle::new(config, links, followers, StreamRegistry::new(limits));
        Ok(Self {
            handle,
            events,
            threads,
        })
    }

    /// The handle to drive the engine with.
    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Lifecycle events; read them on a control thread.
    pub fn events(&self) -> Receiver<EngineEvent> {
        self.events.clone()
    }

    /// Stops every worker and waits for them.
    pub fn shutdown(self) {
        self.handle.shut_down_workers();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
