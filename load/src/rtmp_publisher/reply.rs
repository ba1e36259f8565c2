//! The server's messages, read as far as a publisher cares: PingResponses
//! and AMF0 commands with the status they carry; the rest by type id.

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use super::{
    COMMAND_AMF0, PING_RESPONSE, REPLY_WAIT, RtmpError, RtmpPublisher, SET_CHUNK_SIZE,
    USER_CONTROL, amf0, closed_or_io,
};

/// A status the server sent (onStatus, onFCPublish, `_result`, `_error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// "status" or "error".
    pub level: String,
    /// E.g. "NetStream.Publish.Start".
    pub code: String,
    /// What the server said about it.
    pub description: String,
}

/// A message the server sent, as far as a publisher cares.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    /// A command: its name, transaction id, the number it returns (a new
    /// stream's id) and the status it carries, if any.
    Command {
        /// E.g. "_result" or "onStatus".
        name: String,
        /// The transaction id it answers (0 for notifications).
        transaction_id: f64,
        /// The last number among its arguments.
        number: Option<f64>,
        /// The info object's level, code and description.
        status: Option<Status>,
    },
    /// A PingResponse echoing this timestamp.
    PingResponse(u32),
    /// Any other message, by type id (Set Chunk Size is applied first).
    Other(u8),
}

/// Reads a reply's few shapes: PingResponse, AMF0 commands, the rest by type.
pub(super) fn decode(type_id: u8, payload: &[u8]) -> Result<Reply, RtmpError> {
    match (type_id, payload) {
        (USER_CONTROL, [high, low, a, b, c, d, ..])
            if u16::from_be_bytes([*high, *low]) == PING_RESPONSE =>
        {
            Ok(Reply::PingResponse(u32::from_be_bytes([*a, *b, *c, *d])))
        }
        (COMMAND_AMF0, _) => {
            let values =
                amf0::read_all(payload).ok_or(RtmpError::MalformedReply("AMF0 command"))?;
            let mut values = values.into_iter();
            let Some(amf0::Value::Text(name)) = values.next() else {
                return Err(RtmpError::MalformedReply("a command without a name"));
            };
            let transaction_id = values.next().and_then(|id| id.number()).unwrap_or(0.0);
            let rest: Vec<amf0::Value> = values.collect();
            Ok(Reply::Command {
                name,
                transaction_id,
                number: rest.iter().rev().find_map(amf0::Value::number),
                status: rest.iter().find_map(amf0::Value::status),
            })
        }
        _ => Ok(Reply::Other(type_id)),
    }
}

/// The reading side.
impl RtmpPublisher {
    /// Reads (and keeps the statuses of) what the server still sends until
    /// it closes the connection; false if it is still open after `wait`.
    pub fn wait_until_closed(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.next_reply(deadline) {
                Ok(_) => {}
                Err(RtmpError::TimedOut(_)) => return false,
                Err(_) => return self.closed,
            }
        }
    }

    /// Every status the server sent so far, in order.
    pub fn statuses(&self) -> &[Status] {
        &self.statuses
    }

    /// Whether the server has closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads replies until one is `wanted`; an error status is an error.
    pub(super) fn await_reply(
        &mut self,
        wanted: impl Fn(&Reply) -> bool,
    ) -> Result<Reply, RtmpError> {
        let deadline = Instant::now() + REPLY_WAIT;
        loop {
            let reply = self.next_reply(deadline)?;
            if let Reply::Command {
                status: Some(status),
                ..
            } = &reply
                && status.level == "error"
            {
                return Err(refused(status));
            }
            if wanted(&reply) {
                return Ok(reply);
            }
        }
    }

    fn next_reply(&mut self, deadline: Instant) -> Result<Reply, RtmpError> {
        loop {
            if let Some((type_id, payload)) = self.incoming.next_message()? {
                let reply = decode(type_id, &payload)?;
                match &reply {
                    Reply::Other(SET_CHUNK_SIZE) => self.incoming.set_chunk_size(&payload)?,
                    Reply::Command {
                        status: Some(status),
                        ..
                    } => self.statuses.push(status.clone()),
                    _ => {}
                }
                return Ok(reply);
            }
            self.read_more(deadline)?;
        }
    }

    pub(super) fn read_more(&mut self, deadline: Instant) -> Result<(), RtmpError> {
        if self.closed {
            return Err(RtmpError::Closed);
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Err(RtmpError::TimedOut(REPLY_WAIT));
        }
        self.tcp.set_read_timeout(Some(wait))?;
        let mut buf = [0u8; 16 * 1024];
        match self.tcp.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                Err(RtmpError::Closed)
            }
            Ok(n) => {
                self.incoming.unread.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
            Err(e) => {
                let error = closed_or_io(e);
                self.closed = matches!(error, RtmpError::Closed);
                Err(error)
            }
        }
    }
}

fn refused(status: &Status) -> RtmpError {
    RtmpError::Status {
        code: status.code.clone(),
        description: status.description.clone(),
    }
}

/// Whether `reply` answers the call numbered `transaction_id`.
pub(super) fn answers(reply: &Reply, transaction_id: f64) -> bool {
    matches!(reply, Reply::Command { name, transaction_id: id, .. }
        if (name == "_result" || name == "_error") && *id == transaction_id)
}

pub(super) fn expect_status(reply: Reply, code: &str) -> Result<(), RtmpError> {
    match reply {
        Reply::Command {
            status: Some(status),
            ..
        } if status.code == code => Ok(()),
        Reply::Command {
            status: Some(status),
            ..
        } => Err(refused(&status)),
        _ => Err(RtmpError::MalformedReply("an answer without a status")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_responses_and_command_results_are_told_apart() {
        assert_eq!(
            decode(4, &[0, 7, 0, 0, 0, 9]).unwrap(),
            Reply::PingResponse(9)
        );
        assert_eq!(decode(4, &[0, 0, 0, 0, 0, 1]).unwrap(), Reply::Other(4));
        let mut result = Vec::new();
        amf0::string(&mut result, "_result");
        amf0::number(&mut result, 4.0);
        result.push(amf0::NULL);
        amf0::number(&mut result, 1.0);
        let reply = decode(20, &result).unwrap();
        assert!(answers(&reply, 4.0) && !answers(&reply, 3.0));
        assert_eq!(
            reply,
            Reply::Command {
                name: "_result".into(),
                transaction_id: 4.0,
                number: Some(1.0),
                status: None
            }
        );
        assert!(matches!(
            decode(20, &result[1..]),
            Err(RtmpError::MalformedReply(_))
        ));
    }
}
