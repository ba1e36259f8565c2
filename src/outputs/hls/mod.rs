//! HLS and Low-Latency HLS.
