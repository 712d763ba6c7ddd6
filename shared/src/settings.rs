//! The configuration layering both programs use, and the settings they share.
//!
//! One order, done by `figment`: built-in defaults (each section's `Default`, next to its code),
//! then the TOML file named by `--config`, then environment variables, then flags. Two kinds of
//! environment variable exist:
//!
//! * every flag has one, named after it: `--source-path` reads `POSE_EDGE_SOURCE_PATH`
//!   ([`env_for_flags`] names them, so `--help` shows each);
//! * every setting of the file has one, the section path joined by `__`:
//!   `POSE_EDGE__SOURCE__PIXEL_FORMAT=RGB888` sets `[source] pixel_format` (for settings without
//!   a flag, e.g. in a container).
//!
//! A flag wins over its variable (clap reads both into one value), and both win over the file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::kafka::parse_property;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value of the wrong type or an unknown key; the message names the key and where the
    /// value came from (file, environment variable or flag).
    #[error("{0}")]
    Invalid(Box<figment::Error>),
    /// A value that is fine alone but not with the others, or out of range.
    #[error("{0}")]
    Check(String),
}

/// A program's whole configuration: loaded by one layering, checked, printed with secrets
/// masked. Implemented by `EdgeConfig` and `CloudConfig`.
pub trait Settings: Default + Clone + Serialize + DeserializeOwned {
    /// Prefix of the program's environment variables, e.g. `POSE_EDGE`.
    const ENV_PREFIX: &'static str;

    /// What typed fields cannot say: relations and ranges (the message names the setting).
    fn check(&self) -> Result<(), String>;

    /// A copy with every secret replaced by `***`.
    fn redacted(&self) -> Self;

    /// Defaults, then `file`, then `{ENV_PREFIX}__SECTION__KEY` variables, then `flags` (a
    /// serializable view of the command line in which unset flags are absent); checked.
    fn load(file: Option<&Path>, flags: &impl Serialize) -> Result<Self, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            // figment skips a missing file silently; a file the user named must exist.
            std::fs::metadata(path).map_err(|source| SettingsError::File {
                path: path.to_owned(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let cfg: Self = figment
            .merge(Env::prefixed(&format!("{}__", Self::ENV_PREFIX)).split("__"))
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| SettingsError::Invalid(Box::new(e)))?;
        cfg.check().map_err(SettingsError::Check)?;
        Ok(cfg)
    }

    /// A whole configuration file's text (no layering), checked.
    fn parse(text: &str) -> Result<Self, SettingsError> {
        let cfg: Self = Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| SettingsError::Invalid(Box::new(e)))?;
        cfg.check().map_err(SettingsError::Check)?;
        Ok(cfg)
    }

    /// A configuration file as it is (no layering, not checked).
    fn from_file(path: &Path) -> Result<Self, SettingsError> {
        std::fs::metadata(path).map_err(|source| SettingsError::File {
            path: path.to_owned(),
            source,
        })?;
        Figment::from(Toml::file_exact(path))
            .extract()
            .map_err(|e| SettingsError::Invalid(Box::new(e)))
    }

    /// The configuration as TOML with secrets masked (`config`, `--check-config`).
    fn to_toml_redacted(&self) -> String {
        toml::to_string(&self.redacted()).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Parses the command line of `C` with an environment variable for each flag ([`env_for_flags`]);
/// `--help`, `--version` and usage errors exit as clap does.
pub fn parse_cli<C: clap::CommandFactory + clap::FromArgMatches>(env_prefix: &str) -> C {
    let matches = env_for_flags(C::command(), env_prefix).get_matches();
    C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// A binary's `main`: logs set up, `body` run, its error printed with its causes, exit status 1
/// on error.
pub fn main_with<E: std::fmt::Display>(
    program: &str,
    body: impl FnOnce() -> Result<(), E>,
) -> std::process::ExitCode {
    init_tracing();
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Gives every global flag of `cmd` that has a long name an environment variable:
/// `{prefix}_{LONG_NAME}` with `-` as `_`, upper case (`--max-frames` → `POSE_EDGE_MAX_FRAMES`).
/// Repeatable flags (`--kafka-property`) get none: a variable holds one value.
pub fn env_for_flags(cmd: clap::Command, prefix: &str) -> clap::Command {
    cmd.mut_args(|arg| {
        let named = arg.is_global_set()
            && arg.get_env().is_none()
            && !matches!(arg.get_action(), clap::ArgAction::Append);
        match arg.get_long().map(|l| l.replace('-', "_").to_uppercase()) {
            Some(long) if named => arg.env(format!("{prefix}_{long}")),
            _ => arg,
        }
    })
}

/// `serde(skip_serializing_if)` for flags that only switch something on.
pub fn is_false(b: &bool) -> bool {
    !*b
}

/// Serializes a `--no-x` flag as the value of the setting `x` it switches off.
pub fn negated<S: serde::Serializer>(b: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(!*b)
}

/// The flags both programs share: where Kafka is, the topics, the status interval.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct CommonFlags {
    #[command(flatten)]
    pub kafka: KafkaFlags,
    #[command(flatten)]
    pub topics: TopicFlags,
    /// Seconds between status lines in the log [default: 10]
    #[arg(long = "status-interval", value_name = "SECONDS", global = true)]
    pub status_interval_s: Option<u64>,
}

/// `[kafka]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct KafkaFlags {
    /// Kafka bootstrap servers, host:port[,host:port...] [default: 127.0.0.1:9092]
    #[arg(long, global = true)]
    pub brokers: Option<String>,
    /// Extra librdkafka property KEY=VALUE (repeatable), e.g. security.protocol=SASL_SSL
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = parse_property, global = true)]
    #[serde(serialize_with = "as_map", skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<(String, String)>,
}

fn as_map<S: serde::Serializer>(v: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    // Merged into the file's [kafka.properties] table key by key (figment merges tables).
    let map: BTreeMap<&str, &str> = v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    map.serialize(s)
}

/// `[topics]` from the command line.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, clap::Args, Serialize)]
pub struct TopicFlags {
    /// Keypoints topic [default: pose.keypoints]
    #[arg(long = "keypoints-topic", global = true)]
    #[serde(rename = "keypoints")]
    pub keypoints: Option<String>,
    /// Frames topic [default: pose.frames]
    #[arg(long = "frames-topic", global = true)]
    #[serde(rename = "frames")]
    pub frames: Option<String>,
}

/// A listen address that can be switched off: `host:port`, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Endpoint {
    Off,
    At(SocketAddr),
}

impl Endpoint {
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(a) => Some(a),
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "off" | "" => Ok(Self::Off),
            a => a
                .parse()
                .map(Self::At)
                .map_err(|_| format!("{a:?} is not host:port or \"off\"")),
        }
    }
}

impl TryFrom<String> for Endpoint {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::At(a) => write!(f, "{a}"),
        }
    }
}

/// Logs to stderr (ANSI colours on a terminal), filtered by `RUST_LOG`, `info` by default with
/// librdkafka's own chatter at `warn`.
pub fn init_tracing() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Cfg {
        kafka: crate::kafka::KafkaSettings,
        topics: crate::topics::Topics,
        status_interval_s: u64,
        metrics: Option<Endpoint>,
    }

    impl Settings for Cfg {
        const ENV_PREFIX: &'static str = "PS_SETTINGS_TEST_NONE";
        fn check(&self) -> Result<(), String> {
            match self.status_interval_s {
                0 => Err("status_interval_s must be at least 1".into()),
                _ => Ok(()),
            }
        }
        fn redacted(&self) -> Self {
            Self {
                kafka: self.kafka.without_secrets(),
                ..self.clone()
            }
        }
    }

    #[derive(Parser, Serialize)]
    struct Cli {
        #[command(flatten)]
        #[serde(flatten)]
        common: CommonFlags,
    }

    fn cli(args: &[&str]) -> Cli {
        let cmd = env_for_flags(Cli::command(), "PS_SETTINGS_TEST");
        Cli::from_arg_matches(&cmd.get_matches_from(args)).unwrap()
    }

    #[test]
    fn defaults_file_environment_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "status_interval_s = 7\n[kafka]\nbrokers = \"file:9092\"\n[kafka.properties]\n\
             \"security.protocol\" = \"SASL_SSL\"\n[topics]\nframes = \"f\"\n",
        )
        .unwrap();
        let flags = cli(&[
            "x",
            "--kafka-property",
            "sasl.mechanism=PLAIN",
            "--keypoints-topic",
            "k",
        ]);
        let cfg = Cfg::load(Some(&file), &flags).unwrap();
        assert_eq!(cfg.kafka.brokers, "file:9092");
        assert_eq!(
            cfg.kafka.properties.len(),
            2,
            "flags add to the file's table"
        );
        assert_eq!(
            (cfg.topics.keypoints.as_str(), cfg.topics.frames.as_str()),
            ("k", "f")
        );
        assert_eq!(cfg.status_interval_s, 7);
        let flags = cli(&["x", "--brokers", "flag:1", "--status-interval", "3"]);
        let cfg = Cfg::load(Some(&file), &flags).unwrap();
        assert_eq!(
            (cfg.kafka.brokers.as_str(), cfg.status_interval_s),
            ("flag:1", 3)
        );
    }

    #[test]
    fn errors_name_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "status_intervall_s = 3\n").unwrap();
        let err = Cfg::load(Some(&file), &cli(&["x"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("status_intervall_s") && err.contains("bad.toml"),
            "{err}"
        );
        std::fs::write(&file, "metrics = \"nowhere\"\n").unwrap();
        let err = Cfg::load(Some(&file), &cli(&["x"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not host:port"), "{err}");
        let missing = dir.path().join("missing.toml");
        let err = Cfg::load(Some(&missing), &cli(&["x"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
        std::fs::write(&file, "status_interval_s = 0\n").unwrap();
        let err = Cfg::load(Some(&file), &cli(&["x"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn flags_get_environment_variables_by_name() {
        let cmd = env_for_flags(Cli::command(), "POSE_TEST");
        let env = |long: &str| {
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        };
        assert_eq!(env("brokers").as_deref(), Some("POSE_TEST_BROKERS"));
        assert_eq!(
            env("status-interval").as_deref(),
            Some("POSE_TEST_STATUS_INTERVAL")
        );
        assert_eq!(env("kafka-property"), None, "repeatable: no variable");
    }

    #[test]
    fn endpoint_parses_and_prints() {
        assert_eq!("off".parse::<Endpoint>().unwrap(), Endpoint::Off);
        let e: Endpoint = "127.0.0.1:9464".parse().unwrap();
        assert_eq!(e.to_string(), "127.0.0.1:9464");
        assert!("9464".parse::<Endpoint>().is_err());
    }
}
