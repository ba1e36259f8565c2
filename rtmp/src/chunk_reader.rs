//! Reassembles messages from the client's chunk stream (RTMP 1.0 §5.3),
//! within named limits.
//!
//! Why not scuffle-rtmp's `ChunkReader`: it gives a type 3 chunk that starts
//! a new message the previous message's timestamp instead of adding the
//! previous delta (§5.3.1.2.4; FFmpeg sends such chunks whenever two messages
//! in a row have the same size, type and delta), and two header sequences
//! overflow its arithmetic (a type 2 delta past 2^32, and a type 1 header
//! shortening a message in progress), which panics in debug builds.
//!
//! Memory is bounded: the unread input never exceeds one chunk (the caller
//! feeds bytes, complete chunks are consumed at once); messages in progress
//! hold at most [`MAX_BUFFERED`] bytes, grown as bytes arrive rather than
//! reserved from the declared length.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use crate::chunk_header::Header;
use crate::error::ChunkError;

/// Longest message accepted, in bytes (a 4K keyframe is a few MB).
pub const MAX_MESSAGE_LEN: u32 = 10 * 1024 * 1024;
/// Chunk streams a client may use (OBS and FFmpeg use four or five).
pub const MAX_CHUNK_STREAMS: usize = 100;
/// Messages in progress at once, on different chunk streams.
pub const MAX_PARTIAL_MESSAGES: usize = 4;
/// Bytes all messages in progress may hold together: one message at the
/// limit, and room for audio and commands interleaved with it.
pub const MAX_BUFFERED: usize = MAX_MESSAGE_LEN as usize + 1024 * 1024;

/// The chunk size before the client sets one (§5.4.1).
const DEFAULT_CHUNK_SIZE: usize = 128;
/// Room reserved for a message in progress before its bytes arrive.
const INITIAL_RESERVE: usize = 64 * 1024;

/// A complete message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its timestamp in ms, deltas applied (wrapping at 2^32).
    pub timestamp: u32,
    /// Its message type id (§5.4, §7.1).
    pub type_id: u8,
    /// Its payload.
    pub payload: Bytes,
}

/// What a chunk stream remembers from its last header (§5.3.1.2).
struct ChunkStream {
    timestamp: u32,
    /// The delta a type 3 chunk starting a new message adds; after a type 0
    /// header, its absolute timestamp (§5.3.1.2.4).
    delta: u32,
    length: u32,
    type_id: u8,
    /// The last type 0, 1 or 2 header used the extended timestamp field, so
    /// type 3 chunks carry one too.
    extended: bool,
    /// The message in progress, if its first chunk has arrived.
    partial: Option<BytesMut>,
}

/// Reads messages out of the client's bytes.
pub struct ChunkReader {
    unread: BytesMut,
    streams: HashMap<u32, ChunkStream>,
    chunk_size: usize,
    partial_messages: usize,
    buffered: usize,
}

impl Default for ChunkReader {
    fn default() -> Self {
        Self {
            unread: BytesMut::new(),
            streams: HashMap::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            partial_messages: 0,
            buffered: 0,
        }
    }
}

impl ChunkReader {
    /// Appends bytes from the client.
    pub fn push(&mut self, input: &[u8]) {
        self.unread.extend_from_slice(input);
    }

    /// Sets the size of the client's chunks from now on (the caller checks
    /// the range).
    pub fn set_chunk_size(&mut self, chunk_size: usize) {
        self.chunk_size = chunk_size;
    }

    /// Drops the message in progress on `chunk_stream` (Abort, §5.4.2).
    pub fn abort(&mut self, chunk_stream: u32) {
        if let Some(partial) = self
            .streams
            .get_mut(&chunk_stream)
            .and_then(|stream| stream.partial.take())
        {
            self.partial_messages = self.partial_messages.saturating_sub(1);
            self.buffered = self.buffered.saturating_sub(partial.len());
        }
    }

    /// The next complete message, or `None` until more bytes arrive.
    pub fn next_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            let streams = &self.streams;
            let extended = |id| streams.get(&id).is_some_and(|stream| stream.extended);
            let Some(header) = Header::peek(&self.unread, extended) else {
                return Ok(None);
            };
            let known = self.streams.len();
            let stream = match self.streams.get(&header.chunk_stream) {
                Some(stream) => stream,
                None if header.format != 0 => {
                    return Err(ChunkError::MissingPreviousHeader(header.chunk_stream));
                }
                None if known >= MAX_CHUNK_STREAMS => {
                    return Err(ChunkError::TooManyChunkStreams(MAX_CHUNK_STREAMS));
                }
                None => {
                    let stream = ChunkStream {
                        timestamp: 0,
                        delta: 0,
                        length: 0,
                        type_id: 0,
                        extended: false,
                        partial: None,
                    };
                    self.streams.entry(header.chunk_stream).or_insert(stream)
                }
            };
            let received = stream.partial.as_ref().map(BytesMut::len);
            if received.is_some() && header.format != 3 {
                return Err(ChunkError::HeaderMidMessage(header.chunk_stream));
            }
            let length = if header.format <= 1 {
                header.message_length
            } else {
                stream.length
            };
            if length > MAX_MESSAGE_LEN {
                return Err(ChunkError::MessageTooLarge {
                    length,
                    limit: MAX_MESSAGE_LEN,
                });
            }
            let received = received.unwrap_or(0);
            let remaining = usize::try_from(length)
                .unwrap_or(usize::MAX)
                .saturating_sub(received);
            let chunk_length = remaining.min(self.chunk_size);
            if self.unread.len() < header.length.saturating_add(chunk_length) {
                return Ok(None);
            }
            if let Some(message) = self.consume(&header, chunk_length, remaining)? {
                return Ok(Some(message));
            }
        }
    }

    /// Takes the chunk `header` begins off the unread bytes; returns the
    /// message if the chunk completes one.
    fn consume(
        &mut self,
        header: &Header,
        chunk_length: usize,
        remaining: usize,
    ) -> Result<Option<Message>, ChunkError> {
        let Some(stream) = self.streams.get_mut(&header.chunk_stream) else {
            return Err(ChunkError::MissingPreviousHeader(header.chunk_stream));
        };
        let starts_message = stream.partial.is_none();
        let completes = chunk_length == remaining;
        if starts_message && !completes && self.partial_messages >= MAX_PARTIAL_MESSAGES {
            return Err(ChunkError::TooManyPartialMessages(MAX_PARTIAL_MESSAGES));
        }
        if !(starts_message && completes)
            && self.buffered.saturating_add(chunk_length) > MAX_BUFFERED
        {
            return Err(ChunkError::TooMuchBuffered(MAX_BUFFERED));
        }
        if starts_message {
            stream.start_message(header);
        }
        self.unread.advance(header.length);
        let payload = self.unread.split_to(chunk_length);
        let message = |stream: &ChunkStream, payload: Bytes| Message {
            timestamp: stream.timestamp,
            type_id: stream.type_id,
            payload,
        };
        if starts_message && completes {
            return Ok(Some(message(stream, payload.freeze())));
        }
        let partial = stream
            .partial
            .get_or_insert_with(|| BytesMut::with_capacity(remaining.min(INITIAL_RESERVE)));
        partial.extend_from_slice(&payload);
        if starts_message {
            self.partial_messages = self.partial_messages.saturating_add(1);
        }
        self.buffered = self.buffered.saturating_add(chunk_length);
        if !completes {
            return Ok(None);
        }
        let Some(whole) = stream.partial.take() else {
            return Ok(None);
        };
        self.partial_messages = self.partial_messages.saturating_sub(1);
        self.buffered = self.buffered.saturating_sub(whole.len());
        Ok(Some(message(stream, whole.freeze())))
    }
}

impl ChunkStream {
    /// Takes a new message's header fields (§5.3.1.2).
    fn start_message(&mut self, header: &Header) {
        match header.format {
            0 => {
                self.timestamp = header.timestamp_field;
                self.delta = header.timestamp_field;
            }
            1 | 2 => {
                self.delta = header.timestamp_field;
                self.timestamp = self.timestamp.wrapping_add(self.delta);
            }
            _ => self.timestamp = self.timestamp.wrapping_add(self.delta),
        }
        if header.format <= 1 {
            self.length = header.message_length;
            self.type_id = header.type_id;
        }
        if header.format <= 2 {
            self.extended = header.extended;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(reader: &mut ChunkReader, input: &[u8]) -> Result<Vec<Message>, ChunkError> {
        reader.push(input);
        let mut messages = Vec::new();
        while let Some(message) = reader.next_message()? {
            messages.push(message);
        }
        Ok(messages)
    }

    fn timestamps(input: &[u8]) -> Vec<u32> {
        let messages = read_all(&mut ChunkReader::default(), input).unwrap();
        messages.iter().map(|message| message.timestamp).collect()
    }

    #[test]
    fn a_type_3_chunk_starting_a_message_adds_the_last_delta() {
        let input = [
            0x04, 0, 0, 10, 0, 0, 2, 8, 1, 0, 0, 0, 0xaa, 0xbb, // type 0, ts 10
            0x44, 0, 0, 10, 0, 0, 2, 8, 0xaa, 0xbb, // type 1, delta 10
            0xc4, 0xcc, 0xdd, // type 3: delta 10 again
            0x84, 0, 0, 5, 0xee, 0xff, // type 2, delta 5
            0xc4, 0x11, 0x22, // type 3: delta 5 again
        ];
        assert_eq!(timestamps(&input), [10, 20, 30, 35, 40]);
    }

    #[test]
    fn a_type_3_chunk_after_type_0_adds_the_type_0_timestamp() {
        let input = [0x06, 0, 0, 40, 0, 0, 1, 9, 1, 0, 0, 0, 0x17, 0xc6, 0x27];
        assert_eq!(timestamps(&input), [40, 80]);
    }

    #[test]
    fn timestamps_wrap_instead_of_overflowing() {
        let input = [
            0x03, 0xff, 0xff, 0xff, 0, 0, 1, 8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
            0, // ext ts 2^32-1
            0x83, 0, 0, 5, 0, // type 2 (the extended field is not used), delta 5
        ];
        assert_eq!(timestamps(&input), [u32::MAX, 4]);
    }

    #[test]
    fn messages_are_reassembled_across_interleaved_chunk_streams() {
        let mut input = vec![0x04, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        input.extend([1; 128]);
        input.extend([0x03, 0, 0, 0, 0, 0, 3, 20, 0, 0, 0, 0, 7, 7, 7]);
        input.extend([0xc4]);
        input.extend([2; 72]);
        let split = |at: usize| {
            let mut reader = ChunkReader::default();
            let mut messages = read_all(&mut reader, &input[..at]).unwrap();
            messages.extend(read_all(&mut reader, &input[at..]).unwrap());
            messages
        };
        let messages = split(input.len());
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].type_id, 20);
        assert_eq!(&messages[0].payload[..], [7, 7, 7]);
        assert_eq!(messages[1].type_id, 9);
        assert_eq!(&messages[1].payload[..128], [1; 128]);
        assert_eq!(&messages[1].payload[128..], [2; 72]);
        for at in 0..input.len() {
            assert_eq!(split(at), messages, "split at {at}");
        }
    }

    #[test]
    fn an_extended_timestamp_repeats_in_continuation_chunks() {
        let mut input = vec![0x04, 0xff, 0xff, 0xff, 0, 0, 130, 9, 1, 0, 0, 0, 1, 0, 0, 0];
        input.extend([5; 128]);
        input.extend([0xc4, 1, 0, 0, 0, 6, 6]);
        let mut reader = ChunkReader::default();
        let messages = read_all(&mut reader, &input).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].timestamp, 0x0100_0000);
        assert_eq!(&messages[0].payload[126..], [5, 5, 6, 6]);
    }

    #[test]
    fn a_new_header_in_the_middle_of_a_message_is_refused() {
        let mut input = vec![0x03, 0, 0, 0, 0, 1, 0, 20, 0, 0, 0, 0];
        input.extend([0; 128]);
        input.extend([0x43, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0, 0]);
        let result = read_all(&mut ChunkReader::default(), &input);
        assert_eq!(result, Err(ChunkError::HeaderMidMessage(3)));
    }

    #[test]
    fn headers_that_refer_to_nothing_are_refused() {
        for first in [0x43, 0x83, 0xc3] {
            let result = read_all(&mut ChunkReader::default(), &[first, 0, 0, 0, 0, 0, 0, 0]);
            assert_eq!(result, Err(ChunkError::MissingPreviousHeader(3)));
        }
    }

    #[test]
    fn long_chunk_stream_ids_are_read() {
        let mut reader = ChunkReader::default();
        let two_bytes = [0x00, 0x05, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 9];
        let three_bytes = [0x01, 0x02, 0x01, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 9];
        assert_eq!(read_all(&mut reader, &two_bytes).unwrap().len(), 1);
        assert_eq!(read_all(&mut reader, &three_bytes).unwrap().len(), 1);
        let mut ids: Vec<_> = reader.streams.keys().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, [69, 64 + 2 + 256]);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_header() {
        let length = (MAX_MESSAGE_LEN + 1).to_be_bytes();
        let input = [
            0x04, 0, 0, 0, length[1], length[2], length[3], 9, 1, 0, 0, 0,
        ];
        let result = read_all(&mut ChunkReader::default(), &input);
        let limit = MAX_MESSAGE_LEN;
        assert_eq!(
            result,
            Err(ChunkError::MessageTooLarge {
                length: limit + 1,
                limit
            })
        );
        let length = MAX_MESSAGE_LEN.to_be_bytes();
        let input = [
            0x04, 0, 0, 0, length[1], length[2], length[3], 9, 1, 0, 0, 0,
        ];
        assert_eq!(read_all(&mut ChunkReader::default(), &input), Ok(vec![]));
    }

    #[test]
    fn messages_in_progress_are_limited() {
        let mut reader = ChunkReader::default();
        let mut input = Vec::new();
        for stream in 3..3 + MAX_PARTIAL_MESSAGES as u8 {
            input.extend([stream, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0]);
            input.extend([0; 128]);
        }
        assert_eq!(read_all(&mut reader, &input), Ok(vec![]));
        let mut one_more = vec![0x3f, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
        one_more.extend([0; 128]);
        assert_eq!(
            read_all(&mut reader, &one_more),
            Err(ChunkError::TooManyPartialMessages(MAX_PARTIAL_MESSAGES))
        );
    }

    #[test]
    fn chunk_streams_are_limited() {
        let mut reader = ChunkReader::default();
        for stream in 0..MAX_CHUNK_STREAMS as u8 {
            let input = [0x00, stream, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 1];
            assert_eq!(read_all(&mut reader, &input).unwrap().len(), 1);
        }
        let input = [0x00, 200, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 1];
        assert_eq!(
            read_all(&mut reader, &input),
            Err(ChunkError::TooManyChunkStreams(MAX_CHUNK_STREAMS))
        );
    }

    #[test]
    fn abort_drops_the_message_in_progress() {
        let mut reader = ChunkReader::default();
        let mut input = vec![0x04, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
        input.extend([1; 128]);
        assert_eq!(read_all(&mut reader, &input), Ok(vec![]));
        reader.abort(4);
        assert_eq!(reader.buffered, 0);
        let mut again = vec![0xc4];
        again.extend([9; 128]);
        again.push(0xc4);
        again.extend([8; 128]);
        let messages = read_all(&mut reader, &again).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(&messages[0].payload[..128], [9; 128]);
        assert_eq!(&messages[0].payload[128..], [8; 128]);
        assert_eq!((reader.buffered, reader.partial_messages), (0, 0));
    }

    #[test]
    fn a_larger_chunk_size_takes_effect_for_the_next_chunk() {
        let mut reader = ChunkReader::default();
        reader.set_chunk_size(4096);
        let mut input = vec![0x04, 0, 0, 0, 0, 0x0f, 0xa0, 9, 1, 0, 0, 0];
        input.extend([3; 4000]);
        let messages = read_all(&mut reader, &input).unwrap();
        assert_eq!(messages[0].payload.len(), 4000);
    }
}
