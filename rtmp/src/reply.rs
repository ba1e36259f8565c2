//! Messages we send the client. scuffle-rtmp writes the chunks, the protocol
//! control messages and the connect and createStream results; the statuses
//! whose code the caller chooses are encoded here with its AMF0 encoder.

use bytes::Bytes;
use scuffle_amf0::Amf0Encoder;
use scuffle_rtmp::chunk::writer::ChunkWriter;
use scuffle_rtmp::chunk::{CHUNK_STREAM_ID_COMMAND, Chunk};
use scuffle_rtmp::command_messages::netconnection::{
    NetConnectionCommand, NetConnectionCommandConnectResult,
};
use scuffle_rtmp::command_messages::{Command, CommandType};
use scuffle_rtmp::messages::MessageType;
use scuffle_rtmp::protocol_control_messages::{
    ProtocolControlMessageAcknowledgement, ProtocolControlMessageSetChunkSize,
    ProtocolControlMessageSetPeerBandwidth, ProtocolControlMessageSetPeerBandwidthLimitType,
    ProtocolControlMessageWindowAcknowledgementSize,
};
use scuffle_rtmp::user_control_messages::{EventMessageStreamBegin, EventType};
use serde::Serialize;

use crate::error::ReplyError;

/// Protocol control messages and user control events go on chunk stream 2
/// (RTMP 1.0 §5.4, §6.2).
const CHUNK_STREAM_CONTROL: u32 = 2;

/// The `info` object of an onStatus (RTMP 1.0 §7.2.2), in wire order.
#[derive(Serialize)]
struct Status<'a> {
    level: &'a str,
    code: &'a str,
    description: &'a str,
}

/// Writes replies in the chunk size we announced.
#[derive(Default)]
pub struct Replies {
    writer: ChunkWriter,
}

impl Replies {
    /// Window Acknowledgement Size: the client acknowledges every `size` bytes it receives.
    pub fn window_acknowledgement_size(
        &self,
        out: &mut Vec<u8>,
        size: u32,
    ) -> Result<(), ReplyError> {
        ProtocolControlMessageWindowAcknowledgementSize {
            acknowledgement_window_size: size,
        }
        .write(out, &self.writer)?;
        Ok(())
    }

    /// Set Peer Bandwidth with the dynamic limit type.
    pub fn peer_bandwidth(&self, out: &mut Vec<u8>, size: u32) -> Result<(), ReplyError> {
        ProtocolControlMessageSetPeerBandwidth {
            acknowledgement_window_size: size,
            limit_type: ProtocolControlMessageSetPeerBandwidthLimitType::Dynamic,
        }
        .write(out, &self.writer)?;
        Ok(())
    }

    /// Set Chunk Size; what follows is written in chunks of that size.
    pub fn chunk_size(&mut self, out: &mut Vec<u8>, size: u32) -> Result<(), ReplyError> {
        ProtocolControlMessageSetChunkSize { chunk_size: size }.write(out, &self.writer)?;
        self.writer
            .set_chunk_size(usize::try_from(size).unwrap_or(usize::MAX));
        Ok(())
    }

    /// Acknowledgement of `sequence_number` bytes received.
    pub fn acknowledgement(
        &self,
        out: &mut Vec<u8>,
        sequence_number: u32,
    ) -> Result<(), ReplyError> {
        ProtocolControlMessageAcknowledgement { sequence_number }.write(out, &self.writer)?;
        Ok(())
    }

    /// User Control PingResponse echoing a PingRequest's timestamp (§7.1.7).
    pub fn ping_response(&self, out: &mut Vec<u8>, timestamp: u32) -> Result<(), ReplyError> {
        let mut event = EventType::PingResponse.0.to_be_bytes().to_vec();
        event.extend_from_slice(&timestamp.to_be_bytes());
        let chunk = Chunk::new(
            CHUNK_STREAM_CONTROL,
            0,
            MessageType::UserControlEvent,
            0,
            Bytes::from(event),
        );
        self.writer.write_chunk(out, chunk)?;
        Ok(())
    }

    /// User Control StreamBegin for `stream_id`.
    pub fn stream_begin(&self, out: &mut Vec<u8>, stream_id: u32) -> Result<(), ReplyError> {
        EventMessageStreamBegin { stream_id }.write(&self.writer, out)?;
        Ok(())
    }

    /// `_result` for connect: NetConnection.Connect.Success.
    pub fn connect_result(&self, out: &mut Vec<u8>, transaction_id: f64) -> Result<(), ReplyError> {
        let result = NetConnectionCommandConnectResult::default();
        Command {
            transaction_id,
            command_type: CommandType::NetConnection(NetConnectionCommand::ConnectResult(result)),
        }
        .write(out, &self.writer)?;
        Ok(())
    }

    /// `_result` for createStream with the new stream's id.
    pub fn create_stream_result(
        &self,
        out: &mut Vec<u8>,
        transaction_id: f64,
        stream_id: u32,
    ) -> Result<(), ReplyError> {
        let result = NetConnectionCommand::CreateStreamResult {
            stream_id: f64::from(stream_id),
        };
        Command {
            transaction_id,
            command_type: CommandType::NetConnection(result),
        }
        .write(out, &self.writer)?;
        Ok(())
    }

    /// `_result` with no value, answering a call that returns nothing
    /// (releaseStream, FCPublish), so the client can forget the call.
    pub fn empty_result(&self, out: &mut Vec<u8>, transaction_id: f64) -> Result<(), ReplyError> {
        let mut payload = Vec::new();
        let mut encoder = Amf0Encoder::new(&mut payload);
        encoder.encode_string("_result")?;
        encoder.encode_number(transaction_id)?;
        encoder.encode_null()?;
        encoder.encode_undefined()?;
        self.command(out, 0, payload)
    }

    /// `onStatus` on `stream_id` with transaction id 0.
    pub fn on_status(
        &self,
        out: &mut Vec<u8>,
        stream_id: u32,
        level: &str,
        code: &str,
        description: &str,
    ) -> Result<(), ReplyError> {
        self.notify(out, stream_id, "onStatus", level, code, description)
    }

    /// `onFCPublish` NetStream.Publish.Start, as Adobe's servers answer FCPublish.
    pub fn on_fc_publish(&self, out: &mut Vec<u8>, stream_name: &str) -> Result<(), ReplyError> {
        let code = "NetStream.Publish.Start";
        self.notify(out, 0, "onFCPublish", "status", code, stream_name)
    }

    fn notify(
        &self,
        out: &mut Vec<u8>,
        stream_id: u32,
        name: &str,
        level: &str,
        code: &str,
        description: &str,
    ) -> Result<(), ReplyError> {
        let mut payload = Vec::new();
        let mut encoder = Amf0Encoder::new(&mut payload);
        encoder.encode_string(name)?;
        encoder.encode_number(0.0)?;
        encoder.encode_null()?;
        encoder.serialize(Status {
            level,
            code,
            description,
        })?;
        self.command(out, stream_id, payload)
    }

    fn command(
        &self,
        out: &mut Vec<u8>,
        stream_id: u32,
        payload: Vec<u8>,
    ) -> Result<(), ReplyError> {
        let chunk = Chunk::new(
            CHUNK_STREAM_ID_COMMAND,
            0,
            MessageType::CommandAMF0,
            stream_id,
            Bytes::from(payload),
        );
        self.writer.write_chunk(out, chunk)?;
        Ok(())
    }
}
