//! Reference data from the real client: the attribute lines ftl-sdk's
//! `ftl_app` sends after CONNECT (FTL-SPEC.md §3.2), in its order. For
//! tests, benches and fuzz seeds that must speak exactly like it.

/// `ftl_app`'s attribute lines, in its order, without the closing `.`.
pub const FTL_APP_ATTRIBUTES: [&str; 13] = [
    "ProtocolVersion: 0.9",
    "VendorName: ftl_app",
    "VendorVersion: 0.0.1",
    "Video: true",
    "VideoCodec: H264",
    "VideoHeight: 720",
    "VideoWidth: 1280",
    "VideoPayloadType: 96",
    "VideoIngestSSRC: 124",
    "Audio: true",
    "AudioCodec: OPUS",
    "AudioPayloadType: 97",
    "AudioIngestSSRC: 123",
];
