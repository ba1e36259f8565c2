//! `@setDataFrame`/`onMetaData` data messages (FLV 10.1 Annex E.5): the
//! stream's picture size, frame rate, bit rates and encoder name.

use crate::amf0::{self, Value};
use crate::error::AmfError;
use crate::event::StreamMetadata;

/// Reads a data message. `None` for data other than `onMetaData`
/// (`onTextData`, `onCuePoint`, `|RtmpSampleAccess`, ...).
pub fn parse(payload: &[u8]) -> Result<Option<StreamMetadata>, AmfError> {
    let values = amf0::read_all(payload)?;
    let mut values = values.iter();
    let mut name = values.next().and_then(Value::as_str);
    if name == Some("@setDataFrame") {
        name = values.next().and_then(Value::as_str);
    }
    if name != Some("onMetaData") {
        return Ok(None);
    }
    let Some(properties @ Value::Object(_)) = values.next() else {
        return Ok(None);
    };
    let number = |key| properties.property(key).and_then(Value::as_number);
    Ok(Some(StreamMetadata {
        width: number("width"),
        height: number("height"),
        framerate: number("framerate"),
        video_data_rate: number("videodatarate"),
        audio_data_rate: number("audiodatarate"),
        encoder: properties
            .property("encoder")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }))
}
