//! The HTTP and TLS plumbing every server and client of the crate shares:
//! errors as a status and a reason, header parsing, TLS loading, the server
//! spawn with its slow-loris guards, bounded clients, pages served from the
//! binary, and the stop signal. It imports nothing else of this crate.

pub mod client;
pub mod error;
mod first_bytes;
pub mod headers;
pub mod page;
pub mod server;
pub mod signal;
pub mod tls;
