//! FTL status codes and the exact reply lines the server sends (FTL-SPEC §3.5).

use std::fmt;

/// A three-digit FTL status code, as ftl-sdk's `ftl_private.h` defines them.
///
/// Codes 900-903 are internal to the client and never appear on the wire, so
/// they have no variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 200: HMAC challenge, CONNECT accepted, media port assigned.
    Ok,
    /// 201: the answer to `PING`.
    Ping,
    /// 400: a malformed or out-of-order command.
    BadRequest,
    /// 401: the channel may not stream.
    Unauthorized,
    /// 402: the client's SDK is too old.
    OldVersion,
    /// 403: the audio SSRC is already in use from this address.
    AudioSsrcCollision,
    /// 404: the video SSRC is already in use from this address.
    VideoSsrcCollision,
    /// 405: the stream key is wrong; the client reports "Invalid stream key".
    InvalidStreamKey,
    /// 406: the channel is already live.
    ChannelInUse,
    /// 407: this region is not supported.
    RegionUnsupported,
    /// 408: the server received no media.
    NoMediaTimeout,
    /// 409: the game is blocked.
    GameBlocked,
    /// 410: the server ends the stream; the client disconnects and retries.
    ServerTerminate,
    /// 500: the server failed, for example no media port was free.
    InternalServerError,
}

impl StatusCode {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::Ping => 201,
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::OldVersion => 402,
            Self::AudioSsrcCollision => 403,
            Self::VideoSsrcCollision => 404,
            Self::InvalidStreamKey => 405,
            Self::ChannelInUse => 406,
            Self::RegionUnsupported => 407,
            Self::NoMediaTimeout => 408,
            Self::GameBlocked => 409,
            Self::ServerTerminate => 410,
            Self::InternalServerError => 500,
        }
    }

    /// The code for a number read off the wire, if it is one the protocol defines.
    pub fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            200 => Self::Ok,
            201 => Self::Ping,
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            402 => Self::OldVersion,
            403 => Self::AudioSsrcCollision,
            404 => Self::VideoSsrcCollision,
            405 => Self::InvalidStreamKey,
            406 => Self::ChannelInUse,
            407 => Self::RegionUnsupported,
            408 => Self::NoMediaTimeout,
            409 => Self::GameBlocked,
            410 => Self::ServerTerminate,
            500 => Self::InternalServerError,
            _ => return None,
        })
    }

    /// The bare reply line for this code: `"<code>\n"`.
    ///
    /// LF only: the client's positional parsing breaks on CRLF (FTL-SPEC §3.1).
    pub fn line(self) -> &'static [u8] {
        match self {
            Self::Ok => b"200\n",
            Self::Ping => b"201\n",
            Self::BadRequest => b"400\n",
            Self::Unauthorized => b"401\n",
            Self::OldVersion => b"402\n",
            Self::AudioSsrcCollision => b"403\n",
            Self::VideoSsrcCollision => b"404\n",
            Self::InvalidStreamKey => b"405\n",
            Self::ChannelInUse => b"406\n",
            Self::RegionUnsupported => b"407\n",
            Self::NoMediaTimeout => b"408\n",
            Self::GameBlocked => b"409\n",
            Self::ServerTerminate => b"410\n",
            Self::InternalServerError => b"500\n",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [StatusCode; 14] = [
        StatusCode::Ok,
        StatusCode::Ping,
        StatusCode::BadRequest,
        StatusCode::Unauthorized,
        StatusCode::OldVersion,
        StatusCode::AudioSsrcCollision,
        StatusCode::VideoSsrcCollision,
        StatusCode::InvalidStreamKey,
        StatusCode::ChannelInUse,
        StatusCode::RegionUnsupported,
        StatusCode::NoMediaTimeout,
        StatusCode::GameBlocked,
        StatusCode::ServerTerminate,
        StatusCode::InternalServerError,
    ];

    #[test]
    fn line_is_code_and_lf() {
        for status in ALL {
            assert_eq!(status.line(), format!("{}\n", status.code()).as_bytes());
            assert_eq!(StatusCode::from_code(status.code()), Some(status));
        }
    }

    #[test]
    fn client_internal_codes_are_not_wire_codes() {
        for code in [900, 901, 902, 903, 0, 199, 202] {
            assert_eq!(StatusCode::from_code(code), None);
        }
    }
}
