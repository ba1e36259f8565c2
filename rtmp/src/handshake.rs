//! The server side of the handshake (RTMP 1.0 §5.2): C0 and C1 in, S0, S1
//! and S2 out, C2 in.
//!
//! scuffle-rtmp's `HandshakeServer` writes the answer: the digest
//! ("complex") handshake when C1 carries a valid digest, as FFmpeg and
//! librtmp send, the simple one otherwise. It reads only whole steps, so this
//! module checks C0 as soon as it arrives and gathers C1 before handing it
//! over. C2 only echoes our S1; like scuffle, we skip it unread.
//!
//! The one clock and randomness in the crate are inside scuffle's answer:
//! S1 and S2 carry the system time and bytes from the thread's RNG. Nothing
//! the session does depends on them.

use std::io::Cursor;

use bytes::Bytes;
use scuffle_rtmp::handshake::{HandshakeServer, RTMP_HANDSHAKE_SIZE};

use crate::error::HandshakeError;

/// The RTMP version a client must ask for in C0.
const RTMP_VERSION: u8 = 3;
/// C0 and C1 together.
const C0_C1_SIZE: usize = 1 + RTMP_HANDSHAKE_SIZE;

/// Where the handshake stands, named after what it waits for.
pub enum Handshake {
    /// C0 and C1, gathered so far.
    ExpectC0C1(Vec<u8>),
    /// C2: the bytes of it still to skip.
    ExpectC2(usize),
    /// Finished: what follows is the chunk stream.
    Done,
}

impl Default for Handshake {
    fn default() -> Self {
        Self::ExpectC0C1(Vec::with_capacity(C0_C1_SIZE))
    }
}

impl Handshake {
    /// Takes handshake bytes from the front of `input`, writing S0, S1 and S2
    /// to `out` once C1 is complete. Returns the rest of `input`, which
    /// belongs to the chunk stream once the handshake is `Done`.
    pub fn receive<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<&'a [u8], HandshakeError> {
        match self {
            Self::ExpectC0C1(gathered) => {
                let wanted = C0_C1_SIZE.saturating_sub(gathered.len());
                let (taken, rest) = input.split_at(wanted.min(input.len()));
                gathered.extend_from_slice(taken);
                if let Some(&version) = gathered.first()
                    && version != RTMP_VERSION
                {
                    return Err(HandshakeError::UnsupportedVersion(version));
                }
                if gathered.len() < C0_C1_SIZE {
                    return Ok(rest);
                }
                let c0_c1 = Bytes::from(std::mem::take(gathered));
                HandshakeServer::default()
                    .handshake(&mut Cursor::new(c0_c1), out)
                    .map_err(HandshakeError::Answer)?;
                *self = Self::ExpectC2(RTMP_HANDSHAKE_SIZE);
                self.receive(rest, out)
            }
            Self::ExpectC2(left) => {
                let (_, rest) = input.split_at((*left).min(input.len()));
                *left = left.saturating_sub(input.len());
                if *left == 0 {
                    *self = Self::Done;
                }
                Ok(rest)
            }
            Self::Done => Ok(input),
        }
    }

    /// The handshake is over.
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_handshake_is_answered_and_the_rest_passed_on() {
        let mut handshake = Handshake::default();
        let mut out = Vec::new();
        let mut client = vec![3];
        client.extend((0..RTMP_HANDSHAKE_SIZE).map(|i| i as u8));
        client.extend(std::iter::repeat_n(7, RTMP_HANDSHAKE_SIZE));
        client.extend_from_slice(b"chunks");
        let (first, second) = client.split_at(700);
        assert_eq!(handshake.receive(first, &mut out).unwrap(), b"");
        assert!(out.is_empty());
        assert_eq!(handshake.receive(second, &mut out).unwrap(), b"chunks");
        assert!(handshake.is_done());
        assert_eq!(out.len(), 1 + 2 * RTMP_HANDSHAKE_SIZE);
        assert_eq!(out[0], 3);
        // S2 echoes C1's time and random bytes.
        let s2 = &out[1 + RTMP_HANDSHAKE_SIZE..];
        assert_eq!(&s2[..4], &client[1..5]);
        assert_eq!(&s2[8..], &client[9..1 + RTMP_HANDSHAKE_SIZE]);
    }

    #[test]
    fn rtmpe_and_other_first_bytes_are_refused_at_once() {
        for (first, hint) in [
            (6, "RTMPE"),
            (8, "RTMPE"),
            (0x16, "TLS"),
            (b'G', "HTTP"),
            (0, "not an RTMP client"),
        ] {
            let mut handshake = Handshake::default();
            let error = handshake.receive(&[first], &mut Vec::new()).unwrap_err();
            assert!(matches!(error, HandshakeError::UnsupportedVersion(v) if v == first));
            assert!(error.to_string().contains(hint), "{error}");
        }
    }
}
