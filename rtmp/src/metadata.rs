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
    // NaN and infinities say nothing about a stream: dropped like a wrong type.
    let number = |key| {
        properties
            .property(key)
            .and_then(Value::as_number)
            .filter(|number| number.is_finite())
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn number(key: &str, value: f64) -> Vec<u8> {
        let mut bytes = (key.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(0x00);
        bytes.extend_from_slice(&value.to_be_bytes());
        bytes
    }

    #[test]
    fn numbers_that_are_not_finite_are_dropped() {
        // Found by the fuzzer: NaN made two equal event lists unequal.
        let mut payload = vec![0x02, 0, 10];
        payload.extend_from_slice(b"onMetaData");
        payload.extend_from_slice(&[0x08, 0, 0, 0, 3]);
        payload.extend(number("width", f64::NAN));
        payload.extend(number("height", 240.0));
        payload.extend(number("framerate", f64::INFINITY));
        payload.extend_from_slice(&[0, 0, 0x09]);
        let metadata = parse(&payload).unwrap().unwrap();
        assert_eq!(
            metadata,
            StreamMetadata {
                height: Some(240.0),
                ..StreamMetadata::default()
            }
        );
    }

    #[test]
    fn other_data_messages_are_not_metadata() {
        let mut payload = vec![0x02, 0, 10];
        payload.extend_from_slice(b"onTextData");
        assert_eq!(parse(&payload), Ok(None));
    }
}
