//! The chunk header (RTMP 1.0 §5.3.1): the basic header with its chunk
//! stream id, the type 0, 1 or 2 message header, and the extended
//! timestamp, parsed without consuming anything.

/// A timestamp field of all ones means the extended timestamp follows.
const EXTENDED: u32 = 0xff_ffff;

/// A parsed chunk header, before anything is consumed.
pub struct Header {
    /// The chunk stream id.
    pub chunk_stream: u32,
    /// The header type, 0 to 3.
    pub format: u8,
    /// Bytes the basic header, message header and extended timestamp take.
    pub length: usize,
    /// The timestamp (type 0) or delta (types 1, 2), extended field applied.
    pub timestamp_field: u32,
    /// The header used the extended timestamp field.
    pub extended: bool,
    /// The message length (types 0, 1).
    pub message_length: u32,
    /// The message type id (types 0, 1).
    pub type_id: u8,
}

impl Header {
    /// Parses the header `bytes` start with; `None` if they end inside it.
    /// `extended` says whether a chunk stream's last type 0, 1 or 2 header
    /// used the extended timestamp, which its type 3 chunks then repeat.
    pub fn peek(bytes: &[u8], extended: impl Fn(u32) -> bool) -> Option<Self> {
        let mut cursor = Cursor {
            rest: bytes,
            taken: 0,
        };
        let [first] = cursor.take::<1>()?;
        let format = first >> 6;
        let chunk_stream = match first & 0x3f {
            0 => {
                let [low] = cursor.take::<1>()?;
                64 + u32::from(low)
            }
            1 => {
                let [low, high] = cursor.take::<2>()?;
                64 + u32::from(low) + 256 * u32::from(high)
            }
            id => u32::from(id),
        };
        let mut header = Self {
            chunk_stream,
            format,
            length: 0,
            timestamp_field: 0,
            extended: false,
            message_length: 0,
            type_id: 0,
        };
        if format == 3 {
            // The repeated extended timestamp carries a delta already known.
            if extended(chunk_stream) {
                cursor.take::<4>()?;
            }
        } else {
            cursor.message_header(&mut header)?;
        }
        header.length = cursor.taken;
        Some(header)
    }
}

/// Reads big-endian fields off the unread bytes.
struct Cursor<'a> {
    rest: &'a [u8],
    taken: usize,
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (bytes, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        self.taken += N;
        Some(*bytes)
    }

    fn u24(&mut self) -> Option<u32> {
        let [high, middle, low] = self.take::<3>()?;
        Some(u32::from_be_bytes([0, high, middle, low]))
    }

    /// The message header of a type 0, 1 or 2 chunk, then the extended
    /// timestamp if the timestamp field asks for it (§5.3.1.2, §5.3.1.3).
    fn message_header(&mut self, header: &mut Header) -> Option<()> {
        let field = self.u24()?;
        if header.format <= 1 {
            header.message_length = self.u24()?;
            let [type_id] = self.take::<1>()?;
            header.type_id = type_id;
        }
        if header.format == 0 {
            // The message stream id: the session has one stream, so it is not kept.
            self.take::<4>()?;
        }
        header.extended = field == EXTENDED;
        header.timestamp_field = if header.extended {
            u32::from_be_bytes(self.take::<4>()?)
        } else {
            field
        };
        Some(())
    }
}
