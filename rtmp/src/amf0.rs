//! A bounded AMF0 reader for what a client sends: command messages and
//! `@setDataFrame` metadata.
//!
//! scuffle-amf0 writes our replies, but reading a peer's AMF0 with it is not
//! safe: a strict array's or ECMA array's declared count goes straight into
//! `Vec::with_capacity` (a 2^32-1 count aborts the process on allocation)
//! and nesting recurses without a limit (a megabyte of nested arrays
//! overflows the stack). This reader caps nesting at [`MAX_DEPTH`], never
//! reserves more than the bytes left, and reads ECMA arrays up to their end
//! marker rather than trusting the count, which FFmpeg writes too low when it
//! streams (its FLV muxer only patches the count on seekable output).

use crate::error::AmfError;

/// Deepest nesting of objects and arrays accepted. Encoders nest two or three
/// levels (an `onMetaData` track list of objects holding arrays).
pub const MAX_DEPTH: usize = 16;

/// One AMF0 value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number (also a date, whose time zone is dropped).
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A string, long string or XML document; invalid UTF-8 is replaced.
    String(String),
    /// An object, typed object or ECMA array: its properties in order.
    Object(Vec<(String, Value)>),
    /// A strict array.
    Array(Vec<Value>),
    /// Null or undefined.
    Null,
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The value of property `key`, if this is an object that has it.
    pub fn property(&self, key: &str) -> Option<&Value> {
        match self {
            Self::Object(properties) => properties
                .iter()
                .find_map(|(name, value)| (name == key).then_some(value)),
            _ => None,
        }
    }
}

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const DATE: u8 = 0x0b;
const LONG_STRING: u8 = 0x0c;
const XML_DOCUMENT: u8 = 0x0f;
const TYPED_OBJECT: u8 = 0x10;

/// Reads every value in `payload`, in order.
pub fn read_all(payload: &[u8]) -> Result<Vec<Value>, AmfError> {
    let mut reader = Reader { rest: payload };
    let mut values = Vec::new();
    while !reader.rest.is_empty() {
        values.push(reader.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], AmfError> {
        if self.rest.len() < count {
            return Err(AmfError::Truncated);
        }
        let (taken, rest) = self.rest.split_at(count);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let (bytes, rest) = self.rest.split_first_chunk().ok_or(AmfError::Truncated)?;
        self.rest = rest;
        Ok(*bytes)
    }

    fn byte(&mut self) -> Result<u8, AmfError> {
        let [byte] = self.array()?;
        Ok(byte)
    }

    fn u16(&mut self) -> Result<u16, AmfError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, AmfError> {
        self.array().map(u32::from_be_bytes)
    }

    fn text(&mut self, length: usize) -> Result<String, AmfError> {
        Ok(String::from_utf8_lossy(self.take(length)?).into_owned())
    }

    fn short_text(&mut self) -> Result<String, AmfError> {
        let length = self.u16()?;
        self.text(usize::from(length))
    }

    fn long_text(&mut self) -> Result<String, AmfError> {
        let length = usize::try_from(self.u32()?).map_err(|_| AmfError::Truncated)?;
        self.text(length)
    }

    /// True, consuming it, if an object end (empty key, end marker) is next.
    fn object_end(&mut self) -> bool {
        if let [0, 0, OBJECT_END, rest @ ..] = self.rest {
            self.rest = rest;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, AmfError> {
        let marker = self.byte()?;
        match marker {
            NUMBER => self.number().map(Value::Number),
            BOOLEAN => Ok(Value::Boolean(self.byte()? != 0)),
            STRING => self.short_text().map(Value::String),
            LONG_STRING | XML_DOCUMENT => self.long_text().map(Value::String),
            NULL | UNDEFINED => Ok(Value::Null),
            DATE => {
                let time = self.number()?;
                self.take(2)?;
                Ok(Value::Number(time))
            }
            OBJECT => self.properties(depth, true).map(Value::Object),
            TYPED_OBJECT => {
                self.short_text()?;
                self.properties(depth, true).map(Value::Object)
            }
            ECMA_ARRAY => {
                self.u32()?;
                self.properties(depth, false).map(Value::Object)
            }
            STRICT_ARRAY => {
                let nested = nested(depth)?;
                let count = usize::try_from(self.u32()?).map_err(|_| AmfError::Truncated)?;
                // Each element takes at least its marker byte.
                if count > self.rest.len() {
                    return Err(AmfError::Truncated);
                }
                let mut elements = Vec::with_capacity(count);
                for _ in 0..count {
                    elements.push(self.value(nested)?);
                }
                Ok(Value::Array(elements))
            }
            other => Err(AmfError::UnsupportedMarker(other)),
        }
    }

    fn number(&mut self) -> Result<f64, AmfError> {
        self.array().map(f64::from_be_bytes)
    }

    /// Key-value pairs up to the end marker. An ECMA array may also end with
    /// the payload (some writers leave the marker out when the count is right).
    fn properties(
        &mut self,
        depth: usize,
        end_required: bool,
    ) -> Result<Vec<(String, Value)>, AmfError> {
        let nested = nested(depth)?;
        let mut properties = Vec::new();
        loop {
            if self.object_end() || (!end_required && self.rest.is_empty()) {
                return Ok(properties);
            }
            let key = self.short_text()?;
            let value = self.value(nested)?;
            properties.push((key, value));
        }
    }
}

fn nested(depth: usize) -> Result<usize, AmfError> {
    let nested = depth.saturating_add(1);
    if nested > MAX_DEPTH {
        return Err(AmfError::TooDeep);
    }
    Ok(nested)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_connect_command() {
        let mut bytes = vec![STRING, 0, 7];
        bytes.extend_from_slice(b"connect");
        bytes.push(NUMBER);
        bytes.extend_from_slice(&1.0f64.to_be_bytes());
        bytes.extend_from_slice(&[OBJECT, 0, 3, b'a', b'p', b'p', STRING, 0, 4]);
        bytes.extend_from_slice(b"live");
        bytes.extend_from_slice(&[0, 0, OBJECT_END]);
        let values = read_all(&bytes).unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(values[0].as_str(), Some("connect"));
        assert_eq!(values[1].as_number(), Some(1.0));
        assert_eq!(
            values[2].property("app").and_then(Value::as_str),
            Some("live")
        );
    }

    #[test]
    fn an_ecma_array_is_read_to_its_end_marker_whatever_its_count() {
        let mut bytes = vec![ECMA_ARRAY, 0, 0, 0, 1];
        for key in [b"width", b"depth"] {
            bytes.extend_from_slice(&[0, 5]);
            bytes.extend_from_slice(key);
            bytes.push(NUMBER);
            bytes.extend_from_slice(&320.0f64.to_be_bytes());
        }
        bytes.extend_from_slice(&[0, 0, OBJECT_END, NULL]);
        let values = read_all(&bytes).unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0].property("depth"), Some(&Value::Number(320.0)));
        assert_eq!(values[1], Value::Null);
    }

    #[test]
    fn a_huge_strict_array_count_is_refused_without_allocating() {
        let bytes = [STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff, NULL];
        assert_eq!(read_all(&bytes), Err(AmfError::Truncated));
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let nest = |levels: usize| {
            let mut bytes = Vec::new();
            for _ in 0..levels {
                bytes.extend_from_slice(&[STRICT_ARRAY, 0, 0, 0, 1]);
            }
            bytes.push(NULL);
            bytes
        };
        assert!(read_all(&nest(MAX_DEPTH)).is_ok());
        assert_eq!(read_all(&nest(MAX_DEPTH + 1)), Err(AmfError::TooDeep));
        assert_eq!(read_all(&nest(200_000)), Err(AmfError::TooDeep));
    }

    #[test]
    fn truncation_and_unknown_markers_are_errors() {
        assert_eq!(read_all(&[STRING, 0, 9, b'a']), Err(AmfError::Truncated));
        assert_eq!(read_all(&[OBJECT, 0, 1, b'a']), Err(AmfError::Truncated));
        assert_eq!(read_all(&[0x11]), Err(AmfError::UnsupportedMarker(0x11)));
        assert_eq!(read_all(&[0x07, 0, 1]), Err(AmfError::UnsupportedMarker(7)));
    }
}
