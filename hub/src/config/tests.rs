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
