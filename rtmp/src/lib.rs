//! RTMP ingest, sans-IO: bytes from a publisher in, events and bytes to
//! send back out.
