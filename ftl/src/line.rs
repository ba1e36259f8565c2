//! LineSplitter: the control channel's framing. Splits on `\n`, strips one
//! trailing `\r`, skips empty lines and caps what it holds (FTL-SPEC §3.1).

use std::ops::Range;

/// Default cap on one control line, without its terminator (waveguide's
/// `MaxLineLenBytes`; ftl-sdk never sends more than 512 bytes).
pub const MAX_LINE_LEN: usize = 1024;

/// A line longer than the cap arrived, terminated or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// Splits a byte stream into lines, keeping at most a bounded number of bytes.
///
/// `\r\n\r\n` (what ftl-sdk sends) and a bare `\n` both frame one command,
/// because the empty lines in between are skipped.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    start: usize,
    max_line_len: usize,
    capacity: usize,
}

impl LineSplitter {
    /// A splitter whose lines may be at most `max_line_len` bytes long. It
    /// holds up to twice that (plus terminators) of unread input.
    pub fn new(max_line_len: usize) -> Self {
        let capacity = max_line_len.saturating_mul(2).saturating_add(2);
        Self {
            buf: Vec::with_capacity(capacity),
            start: 0,
            max_line_len,
            capacity,
        }
    }

    /// How many more bytes [`push`](Self::push) accepts before the caller must
    /// read lines out.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len() - self.start)
    }

    /// Appends bytes. Takes at most [`room`](Self::room) of them and returns how
    /// many it took.
    pub fn push(&mut self, data: &[u8]) -> usize {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let taken = data.len().min(self.room());
        self.buf.extend_from_slice(&data[..taken]);
        taken
    }

    /// The next complete, non-empty line, as a range for [`line`](Self::line).
    ///
    /// Returns `Err(LineTooLong)` as soon as the pending bytes prove the line
    /// is over the cap, without waiting for its terminator, and discards them.
    pub fn next_line(&mut self) -> Option<Result<Range<usize>, LineTooLong>> {
        loop {
            let pending = &self.buf[self.start..];
            let Some(lf) = pending.iter().position(|&b| b == b'\n') else {
                // One more byte is allowed for the `\r` that may precede the `\n`.
                if pending.len() > self.max_line_len.saturating_add(1) {
                    self.start = self.buf.len();
                    return Some(Err(LineTooLong));
                }
                return None;
            };
            let begin = self.start;
            let mut end = begin + lf;
            self.start = end + 1;
            if end > begin && self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            if end - begin > self.max_line_len {
                return Some(Err(LineTooLong));
            }
            if end > begin {
                return Some(Ok(begin..end));
            }
        }
    }

    /// The bytes of a line returned by [`next_line`](Self::next_line).
    ///
    /// Valid until the next [`push`](Self::push).
    pub fn line(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Bytes received but not yet returned as a line: a trailing partial line.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(splitter: &mut LineSplitter) -> Vec<Result<Vec<u8>, LineTooLong>> {
        let mut out = Vec::new();
        while let Some(next) = splitter.next_line() {
            out.push(next.map(|range| splitter.line(range).to_vec()));
        }
        out
    }

    #[test]
    fn crlf_crlf_and_bare_lf_frame_the_same_lines() {
        for input in [&b"HMAC\r\n\r\nPING 1\r\n\r\n"[..], b"HMAC\nPING 1\n"] {
            let mut splitter = LineSplitter::new(MAX_LINE_LEN);
            assert_eq!(splitter.push(input), input.len());
            assert_eq!(
                lines(&mut splitter),
                vec![Ok(b"HMAC".to_vec()), Ok(b"PING 1".to_vec())]
            );
        }
    }

    #[test]
    fn empty_lines_and_lone_cr_are_skipped() {
        let mut splitter = LineSplitter::new(MAX_LINE_LEN);
        splitter.push(b"\r\n\r\n\n\n\r\n");
        assert!(lines(&mut splitter).is_empty());
        assert_eq!(splitter.pending(), 0);
    }

    #[test]
    fn partial_line_waits_for_its_terminator() {
        let mut splitter = LineSplitter::new(MAX_LINE_LEN);
        splitter.push(b"HM");
        assert!(lines(&mut splitter).is_empty());
        splitter.push(b"AC\r");
        assert!(lines(&mut splitter).is_empty());
        splitter.push(b"\n");
        assert_eq!(lines(&mut splitter), vec![Ok(b"HMAC".to_vec())]);
    }

    #[test]
    fn line_at_cap_passes_and_one_over_fails() {
        let mut splitter = LineSplitter::new(8);
        splitter.push(b"12345678\r\n");
        assert_eq!(lines(&mut splitter), vec![Ok(b"12345678".to_vec())]);
        splitter.push(b"123456789\n");
        assert_eq!(lines(&mut splitter), vec![Err(LineTooLong)]);
    }

    #[test]
    fn unterminated_line_fails_once_over_cap() {
        let mut splitter = LineSplitter::new(8);
        splitter.push(b"12345678\r");
        assert!(lines(&mut splitter).is_empty());
        splitter.push(b"9");
        assert_eq!(lines(&mut splitter), vec![Err(LineTooLong)]);
    }

    #[test]
    fn room_is_bounded() {
        let mut splitter = LineSplitter::new(8);
        let flood = [b'x'; 100];
        assert_eq!(splitter.push(&flood), 18);
        assert_eq!(splitter.room(), 0);
    }
}
