//! An RTMP chunk stream (RTMP 1.0 §5.3): type 0 headers written for any
//! length, and the server's chunks of every type reassembled into messages.

use std::collections::HashMap;

use super::{DEFAULT_CHUNK_SIZE, RtmpError};

/// The message length and timestamp fields are 24 bits (§5.3.1.2.1); a
/// timestamp this large or larger goes in the extended field.
pub const MAX_FIELD: u32 = 0xff_ffff;

/// A chunk basic header (§5.3.1.1): one, two or three bytes.
pub fn basic_header(format: u8, chunk_stream: u32) -> Vec<u8> {
    match chunk_stream {
        2..=63 => vec![format << 6 | chunk_stream as u8],
        64..=319 => vec![format << 6, (chunk_stream - 64) as u8],
        _ => {
            let [low, high] = ((chunk_stream.saturating_sub(64)) as u16).to_le_bytes();
            vec![format << 6 | 1, low, high]
        }
    }
}

/// A type 0 chunk header (§5.3.1.2.1), with the extended timestamp if needed.
pub fn message_header(
    chunk_stream: u32,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    length: u32,
) -> Result<Vec<u8>, RtmpError> {
    if length > MAX_FIELD {
        return Err(RtmpError::LengthField(length));
    }
    let mut header = basic_header(0, chunk_stream);
    header.extend_from_slice(&timestamp.min(MAX_FIELD).to_be_bytes()[1..]);
    header.extend_from_slice(&length.to_be_bytes()[1..]);
    header.push(type_id);
    header.extend_from_slice(&stream_id.to_le_bytes());
    if timestamp >= MAX_FIELD {
        header.extend_from_slice(&timestamp.to_be_bytes());
    }
    Ok(header)
}

/// The server's chunk stream reassembled into messages (§5.3.1).
#[derive(Debug)]
pub struct Incoming {
    /// Bytes read and not yet consumed (the handshake reads S0-S2 from here).
    pub unread: Vec<u8>,
    chunk_size: usize,
    streams: HashMap<u32, IncomingStream>,
}

/// What a chunk stream's type 1, 2 and 3 headers leave out.
#[derive(Debug, Default)]
struct IncomingStream {
    length: usize,
    type_id: u8,
    extended: bool,
    partial: Vec<u8>,
}

impl Default for Incoming {
    fn default() -> Self {
        Self {
            unread: Vec::new(),
            chunk_size: DEFAULT_CHUNK_SIZE as usize,
            streams: HashMap::new(),
        }
    }
}

impl Incoming {
    /// Follows the server's Set Chunk Size.
    pub fn set_chunk_size(&mut self, payload: &[u8]) -> Result<(), RtmpError> {
        let size = payload
            .first_chunk::<4>()
            .map(|size| u32::from_be_bytes(*size))
            .filter(|size| (1..=i32::MAX as u32).contains(size))
            .ok_or(RtmpError::MalformedReply("Set Chunk Size"))?;
        self.chunk_size = size as usize;
        Ok(())
    }

    /// The next whole message (type id and payload), or `None` until more bytes come.
    pub fn next_message(&mut self) -> Result<Option<(u8, Vec<u8>)>, RtmpError> {
        loop {
            let Some(&first) = self.unread.first() else {
                return Ok(None);
            };
            let format = first >> 6;
            let (chunk_stream, mut at) =
                match (first & 0x3f, self.unread.get(1), self.unread.get(2)) {
                    (0, Some(&low), _) => (64 + u32::from(low), 2),
                    (1, Some(&low), Some(&high)) => {
                        (64 + u32::from(low) + 256 * u32::from(high), 3)
                    }
                    (0 | 1, _, _) => return Ok(None),
                    (id, _, _) => (u32::from(id), 1),
                };
            let header_length = [11, 7, 3, 0][usize::from(format)];
            let Some(header) = self.unread.get(at..at + header_length) else {
                return Ok(None);
            };
            let stream = self.streams.entry(chunk_stream).or_default();
            if format != 3 && !stream.partial.is_empty() {
                return Err(RtmpError::MalformedReply(
                    "a new message header mid-message",
                ));
            }
            let extended = if format == 3 {
                stream.extended
            } else {
                header.starts_with(&[0xff; 3])
            };
            let (length, type_id) = match header {
                [_, _, _, high, middle, low, type_id, ..] => (
                    u32::from_be_bytes([0, *high, *middle, *low]) as usize,
                    *type_id,
                ),
                _ => (stream.length, stream.type_id),
            };
            at += header_length + if extended { 4 } else { 0 };
            let chunk_length = length
                .saturating_sub(stream.partial.len())
                .min(self.chunk_size);
            let Some(body) = self.unread.get(at..at + chunk_length) else {
                return Ok(None);
            };
            stream.partial.extend_from_slice(body);
            (stream.length, stream.type_id) = (length, type_id);
            if format != 3 {
                stream.extended = extended;
            }
            self.unread.drain(..at + chunk_length);
            if stream.partial.len() >= length {
                return Ok(Some((type_id, std::mem::take(&mut stream.partial))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_take_one_to_three_bytes_and_long_timestamps_go_in_the_extended_field() {
        assert_eq!(basic_header(3, 6), [0xc6]);
        assert_eq!(basic_header(0, 64), [0x00, 0]);
        assert_eq!(basic_header(0, 320), [0x01, 0, 1]);
        assert_eq!(
            message_header(3, 20, 1, 5, 300).unwrap(),
            [0x03, 0, 0, 5, 0, 1, 0x2c, 20, 1, 0, 0, 0]
        );
        assert_eq!(
            message_header(4, 8, 1, 0x0100_0000, 2).unwrap(),
            [0x04, 0xff, 0xff, 0xff, 0, 0, 2, 8, 1, 0, 0, 0, 1, 0, 0, 0]
        );
        assert!(matches!(
            message_header(3, 20, 0, 0, 1 << 24),
            Err(RtmpError::LengthField(0x0100_0000))
        ));
    }

    #[test]
    fn chunks_of_every_type_are_reassembled_when_fed_a_byte_at_a_time() {
        // Type 0 on chunk stream 3: 200 bytes, so 128 then a type 3 chunk of 72.
        let mut server = vec![0x03, 0, 0, 0, 0, 0, 200, 20, 0, 0, 0, 0];
        server.extend([1; 128]);
        server.push(0xc3);
        server.extend([1; 72]);
        // Type 1 (delta 5, 2 bytes, type 18), then type 2 (same length and type).
        server.extend([0x43, 0, 0, 5, 0, 0, 2, 18, 7, 7]);
        server.extend([0x83, 0, 0, 5, 8, 8]);
        // Chunk stream 64, with an extended timestamp.
        server.extend([
            0x00, 0, 0xff, 0xff, 0xff, 0, 0, 1, 4, 0, 0, 0, 0, 1, 0, 0, 0, 9,
        ]);
        let mut incoming = Incoming::default();
        let mut messages = Vec::new();
        for byte in server {
            incoming.unread.push(byte);
            while let Some(message) = incoming.next_message().unwrap() {
                messages.push(message);
            }
        }
        let expected = [
            (20, vec![1; 200]),
            (18, vec![7, 7]),
            (18, vec![8, 8]),
            (4, vec![9]),
        ];
        assert_eq!(messages, expected);
        assert!(incoming.unread.is_empty());
    }

    #[test]
    fn the_servers_chunk_size_is_followed_and_a_bad_one_refused() {
        let mut incoming = Incoming {
            unread: message_header(3, 20, 0, 0, 300).unwrap(),
            ..Incoming::default()
        };
        incoming.set_chunk_size(&4096u32.to_be_bytes()).unwrap();
        incoming.unread.extend([9; 300]);
        assert_eq!(incoming.next_message().unwrap(), Some((20, vec![9; 300])));
        assert!(incoming.set_chunk_size(&0u32.to_be_bytes()).is_err());
        assert!(incoming.set_chunk_size(&[1]).is_err());
        let mut midway = Incoming {
            unread: vec![0x03, 0, 0, 0, 0, 0, 200, 20, 0, 0, 0, 0],
            ..Incoming::default()
        };
        midway.unread.extend([1; 128]);
        midway
            .unread
            .extend([0x03, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 1]);
        assert!(midway.next_message().is_err());
    }
}
