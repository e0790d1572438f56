//! Agent configuration: defaults, relative paths, environment overrides, validation.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cairn_agent::{AgentConfig, AgentKind, ConfigError};
use cairn_core::KeyUri;

const MINIMAL: &str = "network = \"cairn-devnet\"\nkind = \"sensor\"\n";

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load(path: &Path, env: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    AgentConfig::load_with_env(path, |name| env.get(name).cloned())
}

fn key_path(config: &AgentConfig) -> &Path {
    let KeyUri::File(p) = &config.device_key;
    p
}

#[test]
fn defaults_and_paths_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(&write(dir.path(), MINIMAL), &[]).unwrap();
    assert_eq!(config.network.as_str(), "cairn-devnet");
    assert_eq!(config.kind, AgentKind::Sensor);
    assert_eq!(key_path(&config), dir.path().join("device.key"));
    assert_eq!(config.data_dir, dir.path().join("agent-data"));
    assert_eq!(config.ingest, "http://127.0.0.1:7481");
    assert_eq!(config.node_rpc, "http://127.0.0.1:7480");
    assert_eq!(config.heartbeat_interval_s, 30);
    assert_eq!(config.resource_interval_s, 600);
    assert_eq!(config.reading_interval_s, 60);
    assert_eq!(config.jitter_pct, 10);
    assert_eq!(config.queue_max_reports, 10_000);
    assert_eq!(config.batch_max, 64);
    assert_eq!(config.session_ms, 3_600_000);
    assert_eq!(config.backoff_initial_ms, 500);
    assert_eq!(config.backoff_max_ms, 60_000);
    assert_eq!(config.admin_listen, "127.0.0.1:7490".parse().unwrap());
    assert!(config.driver.is_empty());
}

#[test]
fn relative_paths_resolve_against_the_config_directory_not_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("etc").join("cairn");
    std::fs::create_dir_all(&sub).unwrap();
    let path = write(
        &sub,
        &format!("{MINIMAL}device_key = \"keys/dev.key\"\ndata_dir = \"../state\"\n"),
    );
    let config = load(&path, &[]).unwrap();
    assert_eq!(key_path(&config), sub.join("keys/dev.key"));
    assert_eq!(config.data_dir, sub.join("../state"));

    // Absolute paths and file:// URIs are kept as they are.
    let path = write(
        &sub,
        &format!("{MINIMAL}device_key = \"file:///srv/dev.key\"\ndata_dir = \"/var/lib/cairn\"\n"),
    );
    let config = load(&path, &[]).unwrap();
    assert_eq!(key_path(&config), Path::new("/srv/dev.key"));
    assert_eq!(config.data_dir, Path::new("/var/lib/cairn"));
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &format!("{MINIMAL}ingest = \"http://10.0.0.1:7481\"\nheartbeat_interval_s = 45\n"),
    );
    let config = load(
        &path,
        &[
            ("CAIRN_AGENT_INGEST", "http://ingest.example.org:7481"),
            ("CAIRN_AGENT_HEARTBEAT_INTERVAL_S", "5"),
            ("CAIRN_AGENT_KIND", "compute"),
            ("CAIRN_AGENT_NETWORK", "acme-testnet"),
            ("CAIRN_AGENT_BATCH_MAX", "512"),
            ("CAIRN_AGENT_ADMIN_LISTEN", "[::1]:9000"),
            ("CAIRN_AGENT_DATA_DIR", "/tmp/cairn-agent-state"),
            ("CAIRN_AGENT_DEVICE_KEY", "file:///keys/device.key"),
            ("CAIRN_AGENT_UNRELATED", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(config.ingest, "http://ingest.example.org:7481");
    assert_eq!(config.heartbeat_interval_s, 5);
    assert_eq!(config.kind, AgentKind::Compute);
    assert_eq!(config.network.as_str(), "acme-testnet");
    assert_eq!(config.batch_max, 512);
    assert_eq!(config.admin_listen, "[::1]:9000".parse().unwrap());
    assert_eq!(config.data_dir, Path::new("/tmp/cairn-agent-state"));
    assert_eq!(key_path(&config), Path::new("/keys/device.key"));
    // Untouched fields keep the file's values or defaults.
    assert_eq!(config.resource_interval_s, 600);
}

#[test]
fn relative_paths_from_the_environment_resolve_against_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config = load(
        &write(dir.path(), MINIMAL),
        &[("CAIRN_AGENT_DATA_DIR", "relative-state")],
    )
    .unwrap();
    assert_eq!(
        config.data_dir,
        std::env::current_dir().unwrap().join("relative-state")
    );
}

fn env_error(env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    match load(&write(dir.path(), MINIMAL), env) {
        Err(ConfigError::Env { var, message }) => (var, message),
        other => panic!("expected an environment error, got {other:?}"),
    }
}

#[test]
fn bad_environment_values_name_the_variable() {
    let (var, message) = env_error(&[("CAIRN_AGENT_HEARTBEAT_INTERVAL_S", "soon")]);
    assert_eq!(var, "CAIRN_AGENT_HEARTBEAT_INTERVAL_S");
    assert!(message.contains("soon"), "{message}");

    let (var, _) = env_error(&[("CAIRN_AGENT_KIND", "toaster")]);
    assert_eq!(var, "CAIRN_AGENT_KIND");
    let (var, _) = env_error(&[("CAIRN_AGENT_NETWORK", "Not Valid")]);
    assert_eq!(var, "CAIRN_AGENT_NETWORK");
    let (var, _) = env_error(&[("CAIRN_AGENT_ADMIN_LISTEN", "localhost")]);
    assert_eq!(var, "CAIRN_AGENT_ADMIN_LISTEN");

    // Parses, but out of range: the validation error also names the variable.
    let (var, message) = env_error(&[("CAIRN_AGENT_BATCH_MAX", "0")]);
    assert_eq!(var, "CAIRN_AGENT_BATCH_MAX");
    assert!(message.contains("1 to 512"), "{message}");
    let (var, message) = env_error(&[("CAIRN_AGENT_ADMIN_LISTEN", "0.0.0.0:7490")]);
    assert_eq!(var, "CAIRN_AGENT_ADMIN_LISTEN");
    assert!(message.contains("loopback"), "{message}");
    let (var, _) = env_error(&[("CAIRN_AGENT_INGEST", "ingest:7481")]);
    assert_eq!(var, "CAIRN_AGENT_INGEST");
}

#[test]
fn non_utf8_environment_value_is_refused() {
    use std::os::unix::ffi::OsStringExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), MINIMAL);
    let err = AgentConfig::load_with_env(&path, |name| {
        (name == "CAIRN_AGENT_INGEST").then(|| OsString::from_vec(vec![0xff, 0xfe]))
    })
    .unwrap_err();
    assert!(err.to_string().contains("CAIRN_AGENT_INGEST"), "{err}");
}

fn invalid(extra: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    match load(&write(dir.path(), &format!("{MINIMAL}{extra}\n")), &[]) {
        Err(ConfigError::Invalid { field, message }) => (field.to_owned(), message),
        other => panic!("{extra}: expected a validation error, got {other:?}"),
    }
}

#[test]
fn ranges_are_validated() {
    for (extra, field) in [
        ("heartbeat_interval_s = 0", "heartbeat_interval_s"),
        ("resource_interval_s = 0", "resource_interval_s"),
        ("reading_interval_s = 0", "reading_interval_s"),
        ("jitter_pct = 51", "jitter_pct"),
        ("queue_max_reports = 0", "queue_max_reports"),
        ("batch_max = 0", "batch_max"),
        ("batch_max = 513", "batch_max"),
        ("session_ms = 0", "session_ms"),
        ("backoff_initial_ms = 0", "backoff_initial_ms"),
        (
            "backoff_initial_ms = 1000\nbackoff_max_ms = 999",
            "backoff_max_ms",
        ),
        ("ingest = \"ftp://example.org\"", "ingest"),
        ("ingest = \"https://example.org\"", "ingest"),
        ("node_rpc = \"not a url\"", "node_rpc"),
        ("admin_listen = \"0.0.0.0:7490\"", "admin_listen"),
        ("admin_listen = \"[::]:7490\"", "admin_listen"),
        ("admin_listen = \"192.168.1.5:7490\"", "admin_listen"),
    ] {
        let (got, message) = invalid(extra);
        assert_eq!(got, field, "{extra}: {message}");
    }
    // The boundaries themselves are fine.
    let dir = tempfile::tempdir().unwrap();
    let ok =
        "jitter_pct = 50\nbatch_max = 512\nqueue_max_reports = 1\nadmin_listen = \"127.0.0.2:1\"";
    load(&write(dir.path(), &format!("{MINIMAL}{ok}\n")), &[]).unwrap();
}

#[test]
fn non_loopback_admin_address_is_explained() {
    let (_, message) = invalid("admin_listen = \"0.0.0.0:7490\"");
    assert!(message.contains("loopback"), "{message}");
    assert!(message.contains("0.0.0.0:7490"), "{message}");
}

#[test]
fn unknown_and_missing_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        &write(dir.path(), &format!("{MINIMAL}heartbeat_interval = 5\n")),
        &[],
    )
    .unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err:?}");
    assert!(err.to_string().contains("heartbeat_interval"), "{err}");

    let err = load(&write(dir.path(), "kind = \"sensor\"\n"), &[]).unwrap_err();
    assert!(err.to_string().contains("network"), "{err}");

    let err = load(
        &write(dir.path(), "network = \"x\"\nkind = \"toaster\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("toaster"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let err = load(&path, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn driver_table_is_passed_through() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{MINIMAL}[driver]\nmodel = \"x1\"\nreadings_per_hour = 12\n");
    let config = load(&write(dir.path(), &text), &[]).unwrap();
    assert_eq!(config.driver["model"].as_str(), Some("x1"));
    assert_eq!(config.driver["readings_per_hour"].as_integer(), Some(12));
}

#[test]
fn example_config_is_valid_and_shows_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let example = load(&write(dir.path(), AgentConfig::example_toml()), &[]).unwrap();
    let minimal = load(&write(dir.path(), MINIMAL), &[]).unwrap();
    assert_eq!(
        AgentConfig {
            driver: toml::Table::new(),
            ..example.clone()
        },
        minimal
    );
    // Every field is documented in the example.
    for field in [
        "network",
        "device_key",
        "kind",
        "ingest",
        "node_rpc",
        "data_dir",
        "heartbeat_interval_s",
        "resource_interval_s",
        "reading_interval_s",
        "jitter_pct",
        "queue_max_reports",
        "batch_max",
        "session_ms",
        "backoff_initial_ms",
        "backoff_max_ms",
        "admin_listen",
        "[driver]",
    ] {
        assert!(AgentConfig::example_toml().contains(field), "{field}");
    }
}

#[test]
fn from_toml_str_resolves_against_the_given_directory() {
    let config = AgentConfig::from_toml_str(MINIMAL, Path::new("/etc/cairn")).unwrap();
    assert_eq!(config.data_dir, Path::new("/etc/cairn/agent-data"));
    assert_eq!(key_path(&config), Path::new("/etc/cairn/device.key"));
}
