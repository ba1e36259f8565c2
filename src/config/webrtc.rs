//! `[webrtc]`: where the workers' WebRTC sockets bind, the address ICE
//! candidates announce, ICE-TCP, and any extra interfaces.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use super::error::{ConfigError, invalid};

/// `[webrtc]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebRtcSection {
    /// Address the WebRTC sockets bind to.
    pub bind: IpAddr,
    /// Worker k's UDP port is this plus k; 0 picks free ports.
    pub port_base: u16,
    /// The IP announced in ICE candidates (behind 1:1 NAT: the public one).
    pub public_ip: IpAddr,
    /// Also accept ICE over TCP (RFC 6544, passive) on each worker's port.
    pub ice_tcp: bool,
    /// More interfaces to serve WebRTC on, each announced with its own IP
    /// (several public IPs behind 1:1 NAT, or IPv4 and IPv6).
    pub extra_interfaces: Vec<InterfaceEntry>,
}

/// One entry of `webrtc.extra_interfaces`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceEntry {
    /// The local address its sockets bind to.
    pub bind: IpAddr,
    /// The IP announced for it.
    pub public_ip: IpAddr,
}

impl Default for WebRtcSection {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port_base: 8200,
            public_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ice_tcp: engine::EngineConfig::default().ice_tcp,
            extra_interfaces: Vec::new(),
        }
    }
}

impl WebRtcSection {
    /// Checks the announced address and that every extra interface is
    /// specific, distinct and of one IP version.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.public_ip.is_unspecified() {
            return Err(invalid(
                "webrtc.public_ip",
                "must be an address viewers can reach, not 0.0.0.0",
            ));
        }
        let extra = &self.extra_interfaces;
        // A wildcard holds the port on every address (an IPv6 one, on IPv4
        // too), so the extra interfaces' sockets could not bind.
        if !extra.is_empty() && self.bind.is_unspecified() {
            return Err(invalid(
                "webrtc.bind",
                "with webrtc.extra_interfaces, bind the main interface to its own address (a wildcard would hold the port on every address)",
            ));
        }
        for (index, interface) in extra.iter().enumerate() {
            let earlier = &extra[..index];
            if interface.bind == self.bind
                || interface.public_ip == self.public_ip
                || earlier
                    .iter()
                    .any(|e| e.bind == interface.bind || e.public_ip == interface.public_ip)
            {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    format!(
                        "{} / {} repeats another interface",
                        interface.bind, interface.public_ip
                    ),
                ));
            }
            if interface.public_ip.is_unspecified() || interface.bind.is_unspecified() {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    "bind and public_ip must be specific addresses (the main interface already binds webrtc.bind)",
                ));
            }
            if interface.public_ip.is_ipv4() != interface.bind.is_ipv4() {
                return Err(invalid(
                    "webrtc.extra_interfaces",
                    format!(
                        "{} and {} are not of the same IP version",
                        interface.bind, interface.public_ip
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sets the engine's sockets and candidates.
    pub(super) fn apply(&self, engine: &mut engine::EngineConfig) {
        engine.webrtc_bind = self.bind;
        engine.webrtc_port_base = self.port_base;
        engine.public_ip = self.public_ip;
        engine.ice_tcp = self.ice_tcp;
        engine.extra_interfaces = self
            .extra_interfaces
            .iter()
            .map(|interface| engine::WebRtcInterface {
                bind: interface.bind,
                public_ip: interface.public_ip,
            })
            .collect();
    }
}
