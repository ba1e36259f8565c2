//! The AMF0 values commands and their replies use (AMF0 §2): written for
//! commands, read from replies far enough to find names, numbers and statuses.

use super::Status;

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
/// The null marker.
pub const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
/// Objects nested deeper than this in a reply are refused.
const MAX_DEPTH: usize = 8;

/// A value read from a reply; what a publisher never looks at is `Other`.
pub enum Value {
    Number(f64),
    Text(String),
    Object(Vec<(String, Value)>),
    Other,
}

impl Value {
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The level, code and description of an info object (§7.2.2).
    pub fn status(&self) -> Option<Status> {
        let Self::Object(properties) = self else {
            return None;
        };
        let text = |key: &str| {
            properties.iter().find_map(|(name, value)| match value {
                Self::Text(text) if name == key => Some(text.clone()),
                _ => None,
            })
        };
        Some(Status {
            code: text("code")?,
            level: text("level").unwrap_or_default(),
            description: text("description").unwrap_or_default(),
        })
    }
}

pub fn number(out: &mut Vec<u8>, value: f64) {
    out.push(NUMBER);
    out.extend_from_slice(&value.to_be_bytes());
}

pub fn string(out: &mut Vec<u8>, text: &str) {
    out.push(STRING);
    key(out, text);
}

pub fn object(out: &mut Vec<u8>, properties: &[(&str, &str)]) {
    out.push(OBJECT);
    for (name, value) in properties {
        key(out, name);
        string(out, value);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

/// A short string: its length, then at most 65535 bytes of it.
fn key(out: &mut Vec<u8>, text: &str) {
    let length = u16::try_from(text.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..usize::from(length)]);
}

/// Every value in `bytes`; `None` if any is malformed.
pub fn read_all(mut bytes: &[u8]) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    while !bytes.is_empty() {
        values.push(read(&mut bytes, 0)?);
    }
    Some(values)
}

fn read(bytes: &mut &[u8], depth: usize) -> Option<Value> {
    let [marker] = take::<1>(bytes)?;
    Some(match marker {
        NUMBER => Value::Number(f64::from_be_bytes(take::<8>(bytes)?)),
        BOOLEAN => take::<1>(bytes).map(|_| Value::Other)?,
        STRING => Value::Text(read_key(bytes)?),
        NULL | UNDEFINED => Value::Other,
        OBJECT | ECMA_ARRAY if depth < MAX_DEPTH => {
            if marker == ECMA_ARRAY {
                take::<4>(bytes)?;
            }
            let mut properties = Vec::new();
            loop {
                let name = read_key(bytes)?;
                if name.is_empty() && bytes.first() == Some(&OBJECT_END) {
                    *bytes = &bytes[1..];
                    break Value::Object(properties);
                }
                properties.push((name, read(bytes, depth + 1)?));
            }
        }
        _ => return None,
    })
}

fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

fn read_key(bytes: &mut &[u8]) -> Option<String> {
    let length = usize::from(u16::from_be_bytes(take::<2>(bytes)?));
    let (text, rest) = bytes.split_at_checked(length)?;
    *bytes = rest;
    Some(String::from_utf8_lossy(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_written_as_amf0() {
        let mut out = Vec::new();
        string(&mut out, "ab");
        number(&mut out, 1.0);
        object(&mut out, &[("k", "v")]);
        let mut expected = vec![STRING, 0, 2, b'a', b'b', NUMBER];
        expected.extend(1.0f64.to_be_bytes());
        expected.extend([OBJECT, 0, 1, b'k', STRING, 0, 1, b'v', 0, 0, OBJECT_END]);
        assert_eq!(out, expected);
    }

    #[test]
    fn a_status_is_found_in_an_info_object_and_bad_values_are_refused() {
        let mut reply = Vec::new();
        string(&mut reply, "onStatus");
        number(&mut reply, 0.0);
        reply.extend([NULL, ECMA_ARRAY, 0, 0, 0, 4, 0, 1, b'x', BOOLEAN, 1]);
        reply.extend([0, 1, b'n', UNDEFINED]);
        let properties = [("level", "error"), ("code", "C"), ("description", "D")];
        for (name, value) in properties {
            key(&mut reply, name);
            string(&mut reply, value);
        }
        reply.extend([0, 0, OBJECT_END]);
        let values = read_all(&reply).unwrap();
        assert_eq!(values.len(), 4);
        let status = values.iter().find_map(Value::status).unwrap();
        assert_eq!(
            (status.level.as_str(), status.code.as_str()),
            ("error", "C")
        );
        assert_eq!(status.description, "D");
        assert!(read_all(&reply[..reply.len() - 1]).is_none(), "cut short");
        assert!(read_all(&[0x0b, 0]).is_none(), "a date");
        let nested = |levels| {
            let mut bytes: Vec<u8> = std::iter::repeat_n([OBJECT, 0, 1, b'o'], levels)
                .flatten()
                .collect();
            bytes.push(NULL);
            bytes.extend(std::iter::repeat_n([0, 0, OBJECT_END], levels).flatten());
            bytes
        };
        assert!(read_all(&nested(MAX_DEPTH)).is_some());
        assert!(
            read_all(&nested(MAX_DEPTH + 1)).is_none(),
            "nested too deep"
        );
    }
}
