//! `Settings` parsing and `Config` resolution.

use super::*;

#[test]
fn defaults_match_netdumplings() {
    let c = Config::default();
    assert_eq!(c.address, "localhost");
    assert_eq!((c.in_port, c.out_port), (11347, 11348));
    assert_eq!(c.status_freq, Duration::from_secs(5));
    assert!(c.kitchen_tokens.is_none() && c.eater_tokens.is_none() && c.tls.is_none());
}

#[test]
fn command_line_wins_over_file() {
    let file: Settings = toml::from_str("in_port = 1\nout_port = 2\nkitchen_rate = 0").unwrap();
    let cli = Settings {
        in_port: Some(3),
        ..Default::default()
    };
    let c = file.merge(cli).resolve().unwrap();
    assert_eq!((c.in_port, c.out_port), (3, 2));
    assert_eq!(c.kitchen_rate, None);
}

#[test]
fn unknown_keys_and_bad_values_are_errors() {
    assert!(toml::from_str::<Settings>("in_prot = 1").is_err());
    assert!(toml::from_str::<Settings>("slow_eater = \"sometimes\"").is_err());
    let s = Settings {
        status_freq: Some(-1.0),
        ..Default::default()
    };
    assert!(matches!(
        s.resolve(),
        Err(ConfigError::Invalid {
            key: "status_freq",
            ..
        })
    ));
}

#[test]
fn metrics_listen_forms() {
    assert_eq!(
        parse_listen("9100").unwrap(),
        MetricsListen {
            host: None,
            port: 9100
        }
    );
    assert_eq!(
        parse_listen("[::1]:9100").unwrap().host.as_deref(),
        Some("::1")
    );
    assert!(parse_listen("x").is_err());
    assert!(parse_listen(":1").is_err());
}

#[test]
fn an_empty_token_file_refuses_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t");
    std::fs::write(&f, "# no tokens yet\n\n").unwrap();
    let s = Settings {
        kitchen_tokens_file: Some(f),
        ..Default::default()
    };
    assert_eq!(s.resolve().unwrap().kitchen_tokens, Some(vec![]));
}

#[test]
fn the_bus_is_off_by_default_and_its_keys_are_checked() {
    assert_eq!(Config::default().nats, None);
    let resolve = |toml_text: &str| {
        toml::from_str::<Settings>(toml_text)
            .unwrap()
            .resolve()
            .map(|c| c.nats)
    };
    let n = resolve("nats = \"nats://a:4222, nats://b:4222\"\nhub_name = \"h\"")
        .unwrap()
        .unwrap();
    assert_eq!(n.urls, ["nats://a:4222", "nats://b:4222"]);
    assert_eq!(n.hub_name, "h");
    assert_eq!(n.stream, DEFAULT_NATS_STREAM);
    assert_eq!(n.max_age, DEFAULT_NATS_MAX_AGE);
    assert_eq!((n.replicas, n.buffer), (1, DEFAULT_NATS_BUFFER));
    // Without `nats`, the other bus keys are ignored.
    assert_eq!(resolve("nats_replicas = 3").unwrap(), None);
    for (bad, key) in [
        ("nats = \"\"", "nats"),
        ("nats = \"nats://a:4222:5:6\"", "nats"),
        ("nats = \"nats://a\"\nnats_stream = \"a.b\"", "nats_stream"),
        ("nats = \"nats://a\"\nnats_replicas = 0", "nats_replicas"),
        ("nats = \"nats://a\"\nnats_max_age = 0.5", "nats_max_age"),
        ("nats = \"nats://a\"\nnats_max_bytes = 10", "nats_max_bytes"),
        ("nats = \"nats://a\"\nnats_buffer = 0", "nats_buffer"),
        ("nats = \"nats://a\"\nhub_name = \" \"", "hub_name"),
    ] {
        match resolve(bad) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // A change of the bus needs a restart.
    let a = Settings::default().resolve().unwrap();
    let b = toml::from_str::<Settings>("nats = \"nats://a\"")
        .unwrap()
        .resolve()
        .unwrap();
    assert!(a.restart_needed(&b).unwrap().contains("nats"));
}
