//! Batched receive (`recvmmsg`) with the kernel's arrival time of each
//! datagram (`SO_TIMESTAMPNS`), so latency excludes the load tool's own
//! queueing while it serves other viewers.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Datagrams read per call.
pub const BATCH: usize = 16;
/// Largest datagram kept whole.
const MAX_DATAGRAM: usize = 2048;
/// Room for one `SCM_TIMESTAMPNS` control message.
const CONTROL: usize = 64;

/// A control-message buffer, aligned for the `cmsghdr` the kernel writes
/// at its start.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct ControlBuffer([u8; CONTROL]);

/// Asks the kernel to stamp every datagram `socket` receives.
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

/// Buffers for one `recvmmsg`, allocated once per viewer loop.
pub struct StampedBatch {
    buffers: Box<[[u8; MAX_DATAGRAM]]>,
    control: Box<[ControlBuffer]>,
    lens: [usize; BATCH],
    sources: [Option<SocketAddr>; BATCH],
    stamps_ns: [u64; BATCH],
    count: usize,
}

impl Default for StampedBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl StampedBatch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self {
            buffers: vec![[0u8; MAX_DATAGRAM]; BATCH].into_boxed_slice(),
            control: vec![ControlBuffer([0; CONTROL]); BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            sources: [None; BATCH],
            stamps_ns: [0; BATCH],
            count: 0,
        }
    }

    /// Reads up to [`BATCH`] waiting datagrams; an empty socket gives `WouldBlock`.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        // SAFETY: zeroed mmsghdr, iovec and sockaddr_storage are valid values.
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            iovecs[i].iov_base = self.buffers[i].as_mut_ptr().cast();
            iovecs[i].iov_len = MAX_DATAGRAM;
            let header = &mut headers[i].msg_hdr;
            header.msg_iov = &raw mut iovecs[i];
            header.msg_iovlen = 1;
            header.msg_name = (&raw mut names[i]).cast();
            header.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_control = self.control[i].0.as_mut_ptr().cast();
            header.msg_controllen = CONTROL;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
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
        self.count = usize::try_from(received).unwrap_or(0).min(BATCH);
        for i in 0..self.count {
            let header = &headers[i].msg_hdr;
            let truncated = header.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[i] = if truncated {
                0
            } else {
                headers[i].msg_len as usize
            };
            self.sources[i] = from_sockaddr(&names[i]);
            self.stamps_ns[i] = stamp_ns(header);
        }
        Ok(self.count)
    }

    /// The datagrams of the last [`recv`](Self::recv): source, bytes and
    /// arrival time (ns since the Unix epoch, 0 if the kernel gave none).
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8], u64)> {
        (0..self.count).filter_map(|i| {
            let source = self.sources[i]?;
            let bytes = self.buffers[i].get(..self.lens[i])?;
            Some((source, bytes, self.stamps_ns[i]))
        })
    }
}

/// The `SCM_TIMESTAMPNS` of a received message, in ns since the epoch.
fn stamp_ns(header: &libc::msghdr) -> u64 {
    if header.msg_flags & libc::MSG_CTRUNC != 0 {
        return 0;
    }
    let timespec_len = size_of::<libc::timespec>();
    // SAFETY: `header` was filled by recvmmsg; the CMSG macros stay within
    // msg_control..msg_control + msg_controllen, and the timespec is read
    // only from a message whose length says it holds one.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET
                && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                && (*cmsg).cmsg_len as usize >= libc::CMSG_LEN(timespec_len as u32) as usize
            {
                let time = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                return (time.tv_sec as u64) * 1_000_000_000 + time.tv_nsec as u64;
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    0
}

fn from_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn datagrams_arrive_with_source_and_a_recent_stamp() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_timestamps(&receiver).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let before = crate::send_log::realtime_ns();
        sender
            .send_to(b"one", receiver.local_addr().unwrap())
            .unwrap();
        sender
            .send_to(b"two!", receiver.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut batch = StampedBatch::new();
        assert_eq!(batch.recv(&receiver).unwrap(), 2);
        let got: Vec<_> = batch.datagrams().collect();
        assert_eq!(got[0].0, sender.local_addr().unwrap());
        assert_eq!(got[0].1, b"one");
        assert_eq!(got[1].1, b"two!");
        let after = crate::send_log::realtime_ns();
        assert!(got.iter().all(|d| (before..=after).contains(&d.2)));
    }
}
