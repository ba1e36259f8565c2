//! The client's command messages (RTMP 1.0 §7.2), read from AMF0 into
//! what the session acts on.

use crate::amf0::{self, Value};
use crate::error::CommandError;

/// A command from the client. Transaction ids come back in our answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `connect`, with the command object's fields we use.
    Connect {
        /// Its transaction id.
        transaction_id: f64,
        /// `app`.
        app: String,
        /// `tcUrl`.
        tc_url: Option<String>,
        /// `flashVer`.
        flash_version: Option<String>,
    },
    /// `releaseStream` (FMLE's, sent by OBS and FFmpeg before publishing).
    ReleaseStream {
        /// Its transaction id.
        transaction_id: f64,
    },
    /// `FCPublish`.
    FcPublish {
        /// Its transaction id.
        transaction_id: f64,
        /// The stream name, if sent.
        stream_name: Option<String>,
    },
    /// `createStream`.
    CreateStream {
        /// Its transaction id.
        transaction_id: f64,
    },
    /// `publish`.
    Publish {
        /// The stream name as sent.
        stream_name: String,
    },
    /// `FCUnpublish`.
    FcUnpublish,
    /// `deleteStream`.
    DeleteStream,
    /// `closeStream`.
    CloseStream,
    /// `play` or `play2`.
    Play,
    /// Anything else (getStreamLength, checkBandwidth, _checkbw, receiveAudio,
    /// ...), by name; publishers need no answer to these.
    Other(String),
}

impl Command {
    /// Reads one command message's payload.
    pub fn parse(payload: &[u8]) -> Result<Self, CommandError> {
        let values = amf0::read_all(payload)?;
        let mut values = values.into_iter();
        let Some(Value::String(name)) = values.next() else {
            return Err(CommandError::NoName);
        };
        let transaction_id = values.next().and_then(|id| id.as_number()).unwrap_or(0.0);
        let command_object = values.next();
        let first_argument = values.next();
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        Ok(match name.as_str() {
            "connect" => {
                let object = command_object.as_ref();
                let property = |key| object.and_then(|object| object.property(key));
                Self::Connect {
                    transaction_id,
                    app: text(property("app")).ok_or(CommandError::MissingField {
                        command: "connect",
                        field: "an app",
                    })?,
                    tc_url: text(property("tcUrl")),
                    flash_version: text(property("flashVer")),
                }
            }
            "releaseStream" => Self::ReleaseStream { transaction_id },
            "FCPublish" => Self::FcPublish {
                transaction_id,
                stream_name: text(first_argument.as_ref()),
            },
            "createStream" => Self::CreateStream { transaction_id },
            "publish" => Self::Publish {
                stream_name: text(first_argument.as_ref()).ok_or(CommandError::MissingField {
                    command: "publish",
                    field: "a stream name",
                })?,
            },
            "FCUnpublish" => Self::FcUnpublish,
            "deleteStream" => Self::DeleteStream,
            "closeStream" => Self::CloseStream,
            "play" | "play2" => Self::Play,
            _ => Self::Other(name),
        })
    }
}
