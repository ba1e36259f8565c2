//! Bounded HTTP clients: every call ends within a deadline, follows no
//! redirect, and trusts the system's certificate authorities plus any the
//! configuration adds.

use std::time::Duration;

use super::tls::install_crypto_provider;

/// An HTTP client whose every call (connecting included) ends within
/// `timeout`, which follows no redirects, and which trusts the system's
/// certificate authorities plus those in the PEM file `extra_roots`.
pub fn bounded_client(
    timeout: Duration,
    extra_roots: Option<&std::path::Path>,
) -> std::io::Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path).map_err(|error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
        })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| std::io::Error::other(format!("{}: {error}", path.display())))?;
        if roots.is_empty() {
            return Err(std::io::Error::other(format!(
                "{}: no PEM certificate in it",
                path.display()
            )));
        }
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
    }
    builder
        .build()
        .map_err(|error| std::io::Error::other(format!("HTTP client: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("waveguide-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let timeout = Duration::from_secs(1);
        let error = bounded_client(timeout, Some(&empty)).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        assert!(bounded_client(timeout, Some(&dir.join("missing.pem"))).is_err());
        assert!(bounded_client(timeout, None).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
