//! The configuration's tests: defaults, every section's values reaching
//! the node and the orchestrator, and each bad value named by its key.

use std::net::IpAddr;
use std::time::Duration;

use super::{Config, ConfigError, LogFormat};

#[test]
fn an_empty_file_is_the_defaults() {
    let config = Config::parse("").unwrap();
    let node = config.node_config().unwrap();
    assert_eq!(node.http.port(), 8091);
    assert_eq!(node.ftl.port(), 8084);
    assert_eq!(node.engine.webrtc_port_base, 8200);
    assert_eq!(node.engine.ftl_media_ports, 9000..=9999);
    assert!(!node.whip_takeover);
    assert_eq!(node.rtmp.address.map(|a| a.port()), Some(1935));
    assert!(node.rtmp.tls.is_none() && node.rtmp.takeover);
}

#[test]
fn rtmp_values_and_its_certificate_reach_the_node_config() {
    let config = Config::parse(
        "[http]\ntls_cert = \"/etc/w/cert.pem\"\ntls_key = \"/etc/w/key.pem\"\n\
         [rtmp]\nenabled = false\ntls_address = \"0.0.0.0:443\"\ntakeover = false\nmax_connections = 5\nidle_timeout_ms = 3000\n",
    )
    .unwrap();
    let node = config.node_config().unwrap();
    assert_eq!(node.rtmp.address, None, "plain RTMP off");
    let (address, files) = node.rtmp.tls.unwrap();
    assert_eq!(address.port(), 443);
    assert_eq!(
        files.cert,
        std::path::PathBuf::from("/etc/w/cert.pem"),
        "the HTTPS certificate by default"
    );
    assert!(!node.rtmp.takeover);
    assert_eq!(node.rtmp.max_connections, 5);
    assert_eq!(node.rtmp.idle_timeout, Duration::from_secs(3));
    let own = Config::parse(
        "[rtmp]\ntls_address = \"0.0.0.0:443\"\ntls_cert = \"/r/c.pem\"\ntls_key = \"/r/k.pem\"\n",
    )
    .unwrap()
    .node_config()
    .unwrap();
    assert_eq!(
        own.rtmp.tls.unwrap().1.key,
        std::path::PathBuf::from("/r/k.pem")
    );
}

#[test]
fn values_reach_the_node_config() {
    let config = Config::parse(
        "[http]\naddress = \"127.0.0.1:9091\"\n[ftl]\nhandshake_timeout_ms = 7000\nmedia_port_min = 20000\nmedia_port_max = 20010\n\
         [webrtc]\npublic_ip = \"203.0.113.7\"\nport_base = 30000\n[workers]\ncount = 3\n[whip]\ntakeover = true\n\
         [logging]\nformat = \"json\"\n",
    )
    .unwrap();
    let node = config.node_config().unwrap();
    assert_eq!(node.http, "127.0.0.1:9091".parse().unwrap());
    assert_eq!(node.ftl_control.handshake_timeout, Duration::from_secs(7));
    assert_eq!(node.engine.ftl_media_ports, 20000..=20010);
    assert_eq!(
        node.engine.public_ip,
        "203.0.113.7".parse::<IpAddr>().unwrap()
    );
    assert_eq!(node.engine.webrtc_port_base, 30000);
    assert_eq!(node.engine.workers, 3);
    assert!(node.whip_takeover);
    assert_eq!(config.logging.format, LogFormat::Json);
}

#[test]
fn cluster_membership_and_the_orchestrator_role() {
    let config = Config::parse(
        "[orchestrator]\nurls = [\"http://10.0.0.9:8090\", \"http://10.0.0.10:8090\"]\nsecret = \"s3\"\n\
         region = \"eu\"\nheartbeat_ms = 500\nrelay_grace_ms = 3000\n\
         [orchestrator.server]\nlisten = \"127.0.0.1:9090\"\nstore = \"redis\"\nredis_url = \"redis://10.0.0.2:6379/\"\nnode_ttl_ms = 4000\n",
    )
    .unwrap();
    let node = config.node_config().unwrap();
    let cluster = node.cluster.unwrap();
    assert_eq!(cluster.orchestrators.len(), 2);
    assert_eq!(cluster.region, "eu");
    assert_eq!(cluster.capacity, node.engine.max_viewers_total as u64);
    assert_eq!(cluster.heartbeat, Duration::from_millis(500));
    assert_eq!(cluster.node_id, None);
    assert_eq!(node.engine.relay_idle_grace, Duration::from_secs(3));
    let role = config.orchestrator_config().unwrap();
    assert_eq!(role.listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(
        role.store,
        crate::orchestrator::Store::Redis("redis://10.0.0.2:6379/".into())
    );
    assert_eq!(role.node_ttl, Duration::from_secs(4));
    // A single node needs none of it.
    assert!(Config::default().node_config().unwrap().cluster.is_none());
}

#[test]
fn extra_interfaces_reach_the_engine_and_are_checked() {
    let config = Config::parse(
        "[webrtc]\nbind = \"10.0.0.7\"\npublic_ip = \"203.0.113.7\"\nextra_interfaces = [\n\
         { bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" },\n\
         { bind = \"fd00::8\", public_ip = \"2001:db8::8\" },\n]\n",
    )
    .unwrap();
    let engine = config.node_config().unwrap().engine;
    assert_eq!(engine.extra_interfaces.len(), 2);
    assert_eq!(
        engine.extra_interfaces[1].public_ip,
        "2001:db8::8".parse::<IpAddr>().unwrap()
    );
    for (bad, key) in [
        (
            "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"2001:db8::8\" }]",
            "webrtc.extra_interfaces",
        ),
        (
            "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"0.0.0.0\", public_ip = \"203.0.113.8\" }]",
            "webrtc.extra_interfaces",
        ),
        (
            "bind = \"10.0.0.7\"\nextra_interfaces = [{ bind = \"10.0.0.7\", public_ip = \"203.0.113.8\" }]",
            "webrtc.extra_interfaces",
        ),
        // The default wildcard bind would hold the port on 10.0.0.8 too,
        // and so would an IPv6 one.
        (
            "extra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" }]",
            "webrtc.bind",
        ),
        (
            "bind = \"::\"\npublic_ip = \"2001:db8::7\"\nextra_interfaces = [{ bind = \"10.0.0.8\", public_ip = \"203.0.113.8\" }]",
            "webrtc.bind",
        ),
    ] {
        let config = Config::parse(&format!("[webrtc]\n{bad}\n")).unwrap();
        match config.node_config() {
            Err(ConfigError::Invalid { key: found, .. }) => assert_eq!(found, key, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn cluster_values_are_checked_by_key() {
    let key_of = |text: &str, role: bool| {
        let config = Config::parse(text).unwrap();
        let error = if role {
            config.orchestrator_config().err()
        } else {
            config.node_config().err()
        };
        match error {
            Some(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid value, got {other:?}"),
        }
    };
    assert_eq!(
        key_of("[orchestrator]\nurls = [\"http://o\"]\n", false),
        "orchestrator.secret"
    );
    assert_eq!(
        key_of(
            "[orchestrator]\nurls = [\"o:8090\"]\nsecret = \"s\"\n",
            false
        ),
        "orchestrator.urls"
    );
    assert_eq!(key_of("", true), "orchestrator.secret");
    assert_eq!(
        key_of(
            "[orchestrator]\nsecret = \"s\"\n[orchestrator.server]\nstore = \"redis\"\nredis_url = \"10.0.0.2\"\n",
            true
        ),
        "orchestrator.server.redis_url"
    );
}

#[test]
fn unknown_keys_and_wrong_types_name_the_key() {
    let unknown = Config::parse("[ftl]\nhandshake_timeout = 5\n")
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("handshake_timeout"), "{unknown}");
    let wrong = Config::parse("[webrtc]\nport_base = \"eighty\"\n")
        .unwrap_err()
        .to_string();
    assert!(wrong.contains("port_base"), "{wrong}");
    let section = Config::parse("[nonsense]\nx = 1\n")
        .unwrap_err()
        .to_string();
    assert!(section.contains("nonsense"), "{section}");
}

#[test]
fn out_of_range_values_name_the_key() {
    for (text, key) in [
        (
            "[ftl]\nmedia_port_min = 10\nmedia_port_max = 5\n",
            "ftl.media_port_min",
        ),
        ("[workers]\ncount = 65\n", "workers.count"),
        ("[webrtc]\npublic_ip = \"0.0.0.0\"\n", "webrtc.public_ip"),
        (
            "[ftl]\nhandshake_timeout_ms = 0\n",
            "ftl.handshake_timeout_ms",
        ),
        (
            "[limits]\nmax_peers_per_worker = 0\n",
            "limits.max_peers_per_worker",
        ),
        (
            "[rtmp]\ntls_address = \"0.0.0.0:443\"\n",
            "rtmp.tls_address",
        ),
        ("[rtmp]\nmax_connections = 0\n", "rtmp.max_connections"),
        ("[rtmp]\nwrite_timeout_ms = 0\n", "rtmp.write_timeout_ms"),
        (
            "[rtmp]\ntls_address = \"0.0.0.0:443\"\ntls_cert = \"/c.pem\"\n",
            "rtmp.tls_cert",
        ),
    ] {
        let error = Config::parse(text)
            .unwrap()
            .node_config()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("invalid value for {key}")),
            "{error}"
        );
    }
}

#[test]
fn static_service_keys() {
    let config =
        Config::parse("[service]\nkind = \"static\"\n[service.keys]\n42 = \"s3cret\"\n").unwrap();
    let node = config.node_config().unwrap();
    assert_eq!(node.service.stream_secret("42").as_deref(), Some("s3cret"));
    assert_eq!(node.service.stream_secret("43"), None);
    let empty = Config::parse("[service]\nkind = \"static\"\n[service.keys]\n42 = \"\"\n").unwrap();
    assert!(
        empty
            .node_config()
            .unwrap_err()
            .to_string()
            .contains("service.keys")
    );
    let unknown = Config::parse("[service]\nkind = \"ldap\"\n")
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("ldap"), "{unknown}");
}

#[test]
fn webhook_service() {
    let config = Config::parse(
        "[service]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nheartbeat_ms = 1000\n",
    )
    .unwrap();
    let node = config.node_config().unwrap();
    let crate::control::service::Service::Webhook(webhook) = &node.service else {
        panic!("not a webhook: {:?}", node.service);
    };
    assert_eq!(webhook.url, "http://127.0.0.1:9/hook");
    assert_eq!(
        (webhook.heartbeat_ms, webhook.timeout_ms, webhook.retries),
        (1000, 2000, 2)
    );
    let typo =
        Config::parse("[service]\nkind = \"webhook\"\nurl = \"x\"\nheartbeat = 1\n").unwrap_err();
    assert!(typo.to_string().contains("heartbeat"), "{typo}");
    let relative = Config::parse("[service]\nkind = \"webhook\"\nurl = \"hook\"\n").unwrap();
    assert!(
        relative
            .node_config()
            .unwrap_err()
            .to_string()
            .contains("service.url")
    );
}

#[test]
fn printed_config_parses_back_to_the_same() {
    let config = Config::parse("[webrtc]\nport_base = 1234\n").unwrap();
    let again = Config::parse(&config.to_toml()).unwrap();
    assert_eq!(again.webrtc.port_base, 1234);
    assert_eq!(again.to_toml(), config.to_toml());
}
