//! ControlError: why a control session ended, each mapped to the FTL status
//! code the client understands (FTL-SPEC §3.5).

use crate::command::{CommandError, CommandKind};
use crate::metadata::MetadataError;
use crate::status::StatusCode;

/// Why the server ended a control session. Every variant has a status code,
/// so the client always reads a code before the connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A line went over the length cap.
    #[error("control line longer than {max} bytes")]
    LineTooLong {
        /// The cap in force.
        max: usize,
    },
    /// The client kept sending while the server waited on its caller (key
    /// lookup or media port), more than the line buffer holds.
    #[error("client sent too much before the server answered")]
    InputWhileWaiting,
    /// A known command with malformed arguments.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A command the current state does not allow.
    #[error("{command:?} not allowed while {state}")]
    UnexpectedCommand {
        /// The command received.
        command: CommandKind,
        /// What the session was waiting for.
        state: &'static str,
    },
    /// Too many unknown or ignored lines.
    #[error("more than {max} unknown or ignored lines")]
    TooManyIgnoredLines {
        /// The cap in force.
        max: usize,
    },
    /// Too many attribute lines before `.`.
    #[error("more than {max} attribute lines")]
    TooManyAttributes {
        /// The cap in force.
        max: usize,
    },
    /// The attributes do not describe a stream the server can take.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The CONNECT digest does not match the stream key.
    #[error("HMAC does not match the stream key")]
    HmacMismatch,
    /// The handshake did not finish before its deadline.
    #[error("handshake not finished within its deadline")]
    HandshakeTimeout,
    /// No `PING` arrived within the idle deadline.
    #[error("no PING within the idle deadline")]
    PingTimeout,
}

impl ControlError {
    /// The status code sent to the client before the connection closes.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::LineTooLong { .. }
            | Self::InputWhileWaiting
            | Self::Command(_)
            | Self::UnexpectedCommand { .. }
            | Self::TooManyIgnoredLines { .. }
            | Self::TooManyAttributes { .. }
            | Self::Metadata(_) => StatusCode::BadRequest,
            Self::HmacMismatch => StatusCode::InvalidStreamKey,
            Self::HandshakeTimeout | Self::PingTimeout => StatusCode::ServerTerminate,
        }
    }
}
