//! ConfigError: why a configuration could not be used, naming the file,
//! the line or the key.

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, which names the key and the line.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid value for {key}: {reason}")]
    Invalid {
        /// The key, as `section.name`.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// An out-of-range `key`.
pub(super) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}
