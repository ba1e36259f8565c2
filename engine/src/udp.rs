//! Batched UDP: `RecvBatch` reads up to [`BATCH`] datagrams per `recvmmsg`
//! (optionally with each one's kernel arrival time, for the load tool),
//! `SendBatch` writes queued datagrams to many peers per `sendmmsg`, folding
//! runs of same-size datagrams to one peer into one UDP GSO message where the
//! kernel takes it, and falling back to plain messages where it does not.
//!
//! UDP loss is normal: a send that fails for any reason but `WouldBlock` is
//! counted and dropped, never retried forever. [`bind_udp`] makes every
//! socket the engine reads: non-blocking, with the configured buffers.
// This module slices buffers into segments and counts into fixed arrays: no
// arithmetic may wrap or panic here, so every operation is checked.
#![deny(clippy::arithmetic_side_effects)]

use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 32;

/// Largest datagram read; anything longer is truncated and dropped.
pub const MAX_DATAGRAM: usize = 2048;

/// Most segments in one GSO message (the kernel allows 64).
const MAX_SEGMENTS: usize = 16;

/// Largest datagram put in a GSO run: each segment must fit the path MTU
/// (1500 minus IPv6 and UDP headers), or the kernel fails the whole message.
const MAX_GSO_SEGMENT: usize = 1452;

/// A non-blocking UDP socket with the given buffer sizes.
pub(crate) fn bind_udp(address: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    bind_udp_with(address, buffer_bytes, false)
}

/// As [`bind_udp`]; with `only_v6`, an IPv6 socket serves IPv6 alone, so an
/// IPv4 socket of another interface can share its port.
pub(crate) fn bind_udp_with(
    address: SocketAddr,
    buffer_bytes: usize,
    only_v6: bool,
) -> io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(address);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if address.is_ipv6() && only_v6 {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in>(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write((&raw mut storage).cast::<libc::sockaddr_in6>(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Room for one `SCM_TIMESTAMPNS` control message.
const STAMP_CONTROL: usize = 64;

/// A control-message buffer, aligned for the `cmsghdr` the kernel writes
/// at its start.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct ControlBuffer([u8; STAMP_CONTROL]);

/// A stamped batch's control buffers and the stamps read from them.
struct Stamps {
    control: [ControlBuffer; BATCH],
    /// Arrival times, ns since the Unix epoch (0 if the kernel gave none).
    ns: [u64; BATCH],
}

/// Asks the kernel to stamp every datagram `socket` receives with its
/// arrival time (`SO_TIMESTAMPNS`), for [`RecvBatch::with_timestamps`].
#[cfg(any(test, feature = "internals"))]
pub fn enable_timestamps(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the stated size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Buffers for one `recvmmsg`, allocated once.
pub struct RecvBatch {
    buffers: Box<[[u8; MAX_DATAGRAM]]>,
    lens: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
    count: usize,
    /// With kernel arrival stamps only (the load tool); the engine's
    /// batches have none and pay one untaken branch per datagram.
    stamps: Option<Box<Stamps>>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Buffers for [`BATCH`] datagrams of up to `MAX_DATAGRAM` bytes.
    pub fn new() -> Self {
        Self {
            buffers: vec![[0u8; MAX_DATAGRAM]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            sources: [None; BATCH],
            count: 0,
            stamps: None,
        }
    }

    /// As [`new`](Self::new), also reading each datagram's kernel arrival
    /// time, from a socket given [`enable_timestamps`].
    #[cfg(any(test, feature = "internals"))]
    pub fn with_timestamps() -> Self {
        Self {
            stamps: Some(Box::new(Stamps {
                control: [ControlBuffer([0; STAMP_CONTROL]); BATCH],
                ns: [0; BATCH],
            })),
            ..Self::new()
        }
    }

    /// Reads what is waiting, up to [`BATCH`] datagrams. `Ok(0)` never
    /// happens; an empty socket gives `WouldBlock`.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        // SAFETY: zeroed mmsghdr/iovec/sockaddr_storage are valid initial values.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut iovecs: [MaybeUninit<libc::iovec>; BATCH] = [MaybeUninit::uninit(); BATCH];
        // SAFETY: as above.
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        for (i, buffer) in self.buffers.iter_mut().enumerate() {
            iovecs[i].write(libc::iovec {
                iov_base: buffer.as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            });
            headers[i].msg_hdr.msg_iov = iovecs[i].as_mut_ptr();
            headers[i].msg_hdr.msg_iovlen = 1;
            headers[i].msg_hdr.msg_name = (&raw mut names[i]).cast();
            headers[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if let Some(stamps) = &mut self.stamps {
                headers[i].msg_hdr.msg_control = stamps.control[i].0.as_mut_ptr().cast();
                headers[i].msg_hdr.msg_controllen = STAMP_CONTROL;
            }
        }
        // SAFETY: every header points at a live buffer and name of the stated sizes.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            return Err(io::Error::last_os_error());
        }
        let received = usize::try_from(received).unwrap_or(0).min(BATCH);
        for i in 0..received {
            let truncated = headers[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[i] = if truncated {
                0
            } else {
                headers[i].msg_len as usize
            };
            self.sources[i] = from_sockaddr(&names[i]);
            if let Some(stamps) = &mut self.stamps {
                stamps.ns[i] = stamp_ns(&headers[i].msg_hdr);
            }
        }
        self.count = received;
        Ok(received)
    }

    /// The datagrams of the last [`recv`](Self::recv), with their sources.
    /// Truncated datagrams come out empty.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        (0..self.count).filter_map(|i| {
            let source = self.sources[i]?;
            let buffer = &self.buffers[i];
            Some((source, buffer.get(..self.lens[i]).unwrap_or_default()))
        })
    }

    /// As [`datagrams`](Self::datagrams), with each one's arrival time in ns
    /// since the Unix epoch (0 if the kernel gave none, or the batch was
    /// made without [`with_timestamps`](Self::with_timestamps)).
    #[cfg(any(test, feature = "internals"))]
    pub fn stamped_datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8], u64)> {
        self.datagrams().enumerate().map(|(i, (source, datagram))| {
            let stamp = self.stamps.as_ref().map_or(0, |stamps| stamps.ns[i]);
            (source, datagram, stamp)
        })
    }
}

/// The `SCM_TIMESTAMPNS` of a received message, in ns since the epoch.
fn stamp_ns(header: &libc::msghdr) -> u64 {
    if header.msg_flags & libc::MSG_CTRUNC != 0 {
        return 0;
    }
    let timespec_len = size_of::<libc::timespec>() as u32;
    // SAFETY: `header` was filled by recvmmsg; the CMSG macros stay within
    // msg_control..msg_control + msg_controllen, and the timespec is read
    // only from a message whose length says it holds one.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET
                && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                && (*cmsg).cmsg_len as usize >= libc::CMSG_LEN(timespec_len) as usize
            {
                let time = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
                let nanos = u64::try_from(time.tv_nsec).unwrap_or(0);
                return seconds.saturating_mul(1_000_000_000).saturating_add(nanos);
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    0
}

/// Counters of a send batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendStats {
    /// Datagrams handed to the kernel.
    pub sent: u64,
    /// `sendmmsg` calls made.
    pub syscalls: u64,
    /// Datagrams dropped because the send failed.
    pub dropped: u64,
    /// Datagrams that went out inside a GSO message.
    pub segmented: u64,
    /// Bytes handed to the kernel.
    pub bytes: u64,
}

/// Datagrams waiting to be sent, each owned until the flush; and messages
/// for ICE-TCP connections, which the worker writes itself. A worker with
/// extra interfaces has one more batch per interface ("alternates"), for
/// datagrams that must leave from that interface's socket.
pub struct SendBatch {
    queue: Vec<(SocketAddr, Vec<u8>)>,
    tcp: Vec<(SocketAddr, Vec<u8>)>,
    /// Each extra interface's announced address and its batch.
    alternates: Vec<(SocketAddr, SendBatch)>,
    gso: bool,
    stats: SendStats,
}

impl SendBatch {
    /// An empty batch; `gso` allows UDP GSO (it switches itself off if the
    /// kernel refuses it).
    pub fn new(gso: bool) -> Self {
        Self {
            queue: Vec::with_capacity(BATCH.saturating_mul(4)),
            tcp: Vec::new(),
            alternates: Vec::new(),
            gso,
            stats: SendStats::default(),
        }
    }

    /// A batch with one alternate batch per address in `alternates`: a
    /// datagram pushed from one of them goes to its batch.
    pub fn with_alternates(gso: bool, alternates: Vec<SocketAddr>) -> Self {
        let mut batch = Self::new(gso);
        batch.alternates = alternates
            .into_iter()
            .map(|address| (address, Self::new(gso)))
            .collect();
        batch
    }

    /// The alternate batches, in the order they were given.
    pub fn alternates_mut(&mut self) -> impl Iterator<Item = &mut SendBatch> {
        self.alternates.iter_mut().map(|(_, batch)| batch)
    }

    /// Counters so far (the alternates' included).
    pub fn stats(&self) -> SendStats {
        let mut stats = self.stats;
        for (_, batch) in &self.alternates {
            let other = batch.stats();
            stats.sent = stats.sent.saturating_add(other.sent);
            stats.syscalls = stats.syscalls.saturating_add(other.syscalls);
            stats.dropped = stats.dropped.saturating_add(other.dropped);
            stats.segmented = stats.segmented.saturating_add(other.segmented);
            stats.bytes = stats.bytes.saturating_add(other.bytes);
        }
        stats
    }

    /// Whether GSO is still in use.
    #[cfg(any(test, feature = "internals"))]
    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Datagrams and ICE-TCP messages queued, the alternates' included.
    pub fn len(&self) -> usize {
        self.alternates.iter().fold(
            self.queue.len().saturating_add(self.tcp.len()),
            |sum, (_, batch)| sum.saturating_add(batch.len()),
        )
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues a datagram for `destination`.
    pub fn push(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        self.queue.push((destination, contents));
    }

    /// Queues a datagram for `destination` that must leave from `source`:
    /// an alternate's address puts it in that alternate's batch.
    pub fn push_from(&mut self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        match self
            .alternates
            .iter_mut()
            .find(|(address, _)| *address == source)
        {
            Some((_, batch)) => batch.push(destination, contents),
            None => self.push(destination, contents),
        }
    }

    /// Queues a message for the ICE-TCP connection from `destination`.
    pub fn push_tcp(&mut self, destination: SocketAddr, contents: Vec<u8>) {
        self.tcp.push((destination, contents));
    }

    /// Takes the queued datagrams without sending them (a test's sink
    /// hands them to in-memory peers instead).
    #[cfg(test)]
    pub(crate) fn take_queued(&mut self) -> std::vec::Drain<'_, (SocketAddr, Vec<u8>)> {
        self.queue.drain(..)
    }

    /// Takes the queued ICE-TCP messages.
    pub fn drain_tcp(&mut self) -> std::vec::Drain<'_, (SocketAddr, Vec<u8>)> {
        self.tcp.drain(..)
    }

    /// Sends everything queued on `socket`, [`BATCH`] messages per syscall.
    /// On `WouldBlock` the rest is dropped and counted: a full socket buffer
    /// means the kernel is already behind, and late media is useless.
    pub fn flush(&mut self, socket: &impl AsRawFd) {
        let mut start = 0;
        while start < self.queue.len() {
            match self.send_some(socket, start) {
                Ok(consumed) => start = start.saturating_add(consumed),
                Err((error, _))
                    if self.gso
                        && matches!(error.raw_os_error(), Some(libc::EIO | libc::EINVAL)) =>
                {
                    // Some drivers accept the option and fail the send; resend plainly.
                    self.gso = false;
                }
                Err((error, _)) if error.kind() == io::ErrorKind::Interrupted => {}
                Err((error, _)) if error.kind() == io::ErrorKind::WouldBlock => {
                    let rest = self.queue.len().saturating_sub(start);
                    self.stats.dropped = self.stats.dropped.saturating_add(rest as u64);
                    break;
                }
                Err((_, first_message)) => {
                    // This peer is unreachable (or refused): skip its message,
                    // not everyone else's.
                    self.stats.dropped = self.stats.dropped.saturating_add(first_message as u64);
                    start = start.saturating_add(first_message.max(1));
                }
            }
        }
        self.queue.clear();
    }

    /// One `sendmmsg` from `start`; returns how many queued datagrams it took,
    /// or the error with the number of datagrams in the first message.
    fn send_some(
        &mut self,
        socket: &impl AsRawFd,
        start: usize,
    ) -> Result<usize, (io::Error, usize)> {
        // SAFETY: zeroed mmsghdr/iovec/sockaddr_storage are valid initial values.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut iovecs: [[libc::iovec; MAX_SEGMENTS]; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        // Room for one cmsg holding a u16, aligned for cmsghdr.
        let mut controls = [[0u64; 4]; BATCH];
        let mut segments_per_message = [0usize; BATCH];
        let mut bytes_per_message = [0usize; BATCH];
        let mut messages = 0;
        let mut at = start;
        while messages < BATCH && at < self.queue.len() {
            let (destination, first) = &self.queue[at];
            let size = first.len();
            let mut segments = 1;
            if self.gso && size <= MAX_GSO_SEGMENT {
                while segments < MAX_SEGMENTS {
                    let Some((next_destination, next)) =
                        self.queue.get(at.saturating_add(segments))
                    else {
                        break;
                    };
                    // A run: same peer, same size; the last may be shorter.
                    if next_destination != destination || next.len() > size {
                        break;
                    }
                    segments = segments.saturating_add(1);
                    if next.len() < size {
                        break;
                    }
                }
            }
            for (segment, (_, contents)) in self.queue[at..at.saturating_add(segments)]
                .iter()
                .enumerate()
            {
                iovecs[messages][segment] = libc::iovec {
                    iov_base: contents.as_ptr() as *mut libc::c_void,
                    iov_len: contents.len(),
                };
            }
            let (storage, name_len) = to_sockaddr(destination);
            names[messages] = storage;
            let header = &mut headers[messages].msg_hdr;
            header.msg_name = (&raw mut names[messages]).cast();
            header.msg_namelen = name_len;
            header.msg_iov = iovecs[messages].as_mut_ptr();
            header.msg_iovlen = segments;
            if segments > 1 {
                set_segment_size(header, &mut controls[messages], size as u16);
            }
            segments_per_message[messages] = segments;
            bytes_per_message[messages] = self.queue[at..at.saturating_add(segments)]
                .iter()
                .map(|(_, contents)| contents.len())
                .sum();
            messages = messages.saturating_add(1);
            at = at.saturating_add(segments);
        }
        // SAFETY: every header points at live iovecs, names and controls that
        // outlive the call; the iovecs point into `self.queue`, untouched here.
        let sent = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                messages as libc::c_uint,
                0,
            )
        };
        self.stats.syscalls = self.stats.syscalls.saturating_add(1);
        if sent < 0 {
            return Err((io::Error::last_os_error(), segments_per_message[0]));
        }
        let sent = usize::try_from(sent).unwrap_or(0);
        let datagrams: usize = segments_per_message[..sent].iter().sum();
        let segmented: usize = segments_per_message[..sent]
            .iter()
            .filter(|&&n| n > 1)
            .sum();
        self.stats.sent = self.stats.sent.saturating_add(datagrams as u64);
        let bytes: usize = bytes_per_message[..sent].iter().sum();
        self.stats.bytes = self.stats.bytes.saturating_add(bytes as u64);
        self.stats.segmented = self.stats.segmented.saturating_add(segmented as u64);
        if sent == 0 {
            // Nothing went out and no error: drop one message so we progress.
            let skipped = segments_per_message[0].max(1);
            self.stats.dropped = self.stats.dropped.saturating_add(skipped as u64);
            return Ok(skipped);
        }
        Ok(datagrams)
    }
}

/// Attaches a `UDP_SEGMENT` control message: the kernel splits the message
/// into datagrams of `size` bytes.
fn set_segment_size(header: &mut libc::msghdr, control: &mut [u64; 4], size: u16) {
    header.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    header.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
    // SAFETY: the control buffer is 32 bytes, aligned for cmsghdr, and larger
    // than CMSG_SPACE(2); CMSG_FIRSTHDR therefore returns a valid pointer.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), size);
    }
}

#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "test fixtures, not buffer slicing"
)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn datagrams_from_an_alternate_address_leave_from_its_socket() {
        let main = UdpSocket::bind("127.0.0.1:0").unwrap();
        let second = UdpSocket::bind("127.0.0.2:0").unwrap();
        let viewer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = viewer.local_addr().unwrap();
        let mut batch = SendBatch::with_alternates(false, vec![second.local_addr().unwrap()]);
        batch.push_from(main.local_addr().unwrap(), to, b"main".to_vec());
        batch.push_from(second.local_addr().unwrap(), to, b"second".to_vec());
        batch.push_tcp(to, b"tcp".to_vec());
        // Every queue counts, so the worker's early flush sees them all.
        assert_eq!(batch.len(), 3);
        batch.flush(&main);
        for alternate in batch.alternates_mut() {
            alternate.flush(&second);
        }
        assert_eq!(batch.drain_tcp().count(), 1);
        assert!(batch.is_empty());
        viewer
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        for _ in 0..2 {
            let (n, from) = viewer.recv_from(&mut buf).unwrap();
            got.push((buf[..n].to_vec(), from));
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (b"main".to_vec(), main.local_addr().unwrap()),
                (b"second".to_vec(), second.local_addr().unwrap()),
            ]
        );
    }

    fn receive_all(socket: &UdpSocket, expected: usize) -> Vec<Vec<u8>> {
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < expected && Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                got.push(buf[..n].to_vec());
            }
        }
        got
    }

    fn round_trip(gso: bool) -> (SendStats, bool) {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let receivers = [
            UdpSocket::bind("127.0.0.1:0").unwrap(),
            UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let mut batch = SendBatch::new(gso);
        let mut expected = [Vec::new(), Vec::new()];
        // Runs of equal-size datagrams to each peer, interleaved, with odd sizes between.
        for i in 0..100u32 {
            let peer = (i / 7 % 2) as usize;
            let size = if i % 7 == 6 { 50 + i as usize } else { 1200 };
            let mut contents = vec![i as u8; size];
            contents[..4].copy_from_slice(&i.to_be_bytes());
            expected[peer].push(contents.clone());
            batch.push(receivers[peer].local_addr().unwrap(), contents);
        }
        batch.flush(&sender);
        for (receiver, expected) in receivers.iter().zip(expected) {
            assert_eq!(receive_all(receiver, expected.len()), expected);
        }
        assert!(batch.is_empty());
        (batch.stats(), batch.gso())
    }

    #[test]
    fn sendmmsg_delivers_every_datagram_in_order_per_peer() {
        let (stats, _) = round_trip(false);
        assert_eq!((stats.sent, stats.dropped, stats.segmented), (100, 0, 0));
        let expected_bytes: u64 = (0..100u64)
            .map(|i| if i % 7 == 6 { 50 + i } else { 1200 })
            .sum();
        assert_eq!(stats.bytes, expected_bytes);
        assert!(
            stats.syscalls <= 4,
            "batched: {} syscalls for 100 datagrams",
            stats.syscalls
        );
    }

    #[test]
    fn gso_runs_are_split_back_into_the_same_datagrams() {
        let (stats, still_gso) = round_trip(true);
        assert_eq!((stats.sent, stats.dropped), (100, 0));
        // Loopback takes GSO on any kernel since 4.18; where it is refused the
        // batch must have switched GSO off and still delivered everything.
        assert!(
            stats.segmented > 0 || !still_gso,
            "GSO neither used nor switched off"
        );
    }

    #[test]
    fn recvmmsg_reads_a_burst_in_one_call() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..10u8 {
            sender
                .send_to(&[i; 3], receiver.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 10 && Instant::now() < deadline {
            match batch.recv(&receiver) {
                Ok(_) => got.extend(batch.datagrams().map(|(from, d)| (from, d.to_vec()))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), 10);
        for (i, (from, datagram)) in got.into_iter().enumerate() {
            assert_eq!(from, sender.local_addr().unwrap());
            assert_eq!(datagram, vec![i as u8; 3]);
        }
        assert_eq!(
            batch.recv(&receiver).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn stamped_datagrams_arrive_with_source_and_a_recent_stamp() {
        let now_ns = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        };
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_timestamps(&receiver).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = now_ns();
        sender
            .send_to(b"one", receiver.local_addr().unwrap())
            .unwrap();
        sender
            .send_to(b"two!", receiver.local_addr().unwrap())
            .unwrap();
        receiver.set_nonblocking(true).unwrap();
        let mut batch = RecvBatch::with_timestamps();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < 2 && Instant::now() < deadline {
            match batch.recv(&receiver) {
                Ok(_) => got.extend(
                    batch
                        .stamped_datagrams()
                        .map(|(from, d, stamp)| (from, d.to_vec(), stamp)),
                ),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, sender.local_addr().unwrap());
        assert_eq!(got[0].1, b"one");
        assert_eq!(got[1].1, b"two!");
        let after = now_ns();
        assert!(got.iter().all(|d| (before..=after).contains(&d.2)));
    }

    #[test]
    fn oversized_datagrams_come_out_empty() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(&[7; MAX_DATAGRAM + 1], receiver.local_addr().unwrap())
            .unwrap();
        let mut batch = RecvBatch::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if batch.recv(&receiver).is_ok() {
                break;
            }
        }
        assert_eq!(
            batch.datagrams().map(|(_, d)| d.len()).collect::<Vec<_>>(),
            vec![0]
        );
    }
}
