//! `[service]`'s checks: a static key may not be empty; a webhook needs an
//! `http://` URL, a timeout and a heartbeat of at least 100 ms. (The
//! section itself is `control::service::Service`.)

use super::error::{ConfigError, invalid};
use crate::control::service::Service;

/// Checks the keys of `static` and the webhook's URL and timings.
pub(super) fn check(service: &Service) -> Result<(), ConfigError> {
    if let Service::Static { keys } = service
        && let Some((channel, _)) = keys.iter().find(|(_, secret)| secret.is_empty())
    {
        return Err(invalid(
            "service.keys",
            format!("the key of channel {channel} is empty"),
        ));
    }
    if let Service::Webhook(webhook) = service {
        if !webhook.url.starts_with("http://") {
            return Err(invalid("service.url", "must be an http:// URL"));
        }
        if webhook.timeout_ms == 0 || webhook.heartbeat_ms < 100 {
            return Err(invalid(
                "service.heartbeat_ms",
                "timeout_ms above 0 and heartbeat_ms at least 100",
            ));
        }
    }
    Ok(())
}
