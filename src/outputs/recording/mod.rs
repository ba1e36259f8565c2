//! Recording streams to disk.
