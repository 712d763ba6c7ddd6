//! Kafka connection settings shared by `pose-edge` and `pose-cloud` (brokers, security, overrides).
//!
//! Only connection and security live here; each program sets the client settings that fit its
//! purpose (producer durability, consumer latency) next to the code that relies on them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};

/// Default bootstrap servers: the local broker started by `scripts/broker.sh`.
pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";

/// Where the brokers are and how to talk to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` bootstrap servers (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Extra librdkafka properties, applied last, e.g. `security.protocol = "SASL_SSL"`,
    /// `sasl.mechanism = "SCRAM-SHA-512"`, `sasl.username`, `sasl.password`,
    /// `ssl.ca.location`. Any valid librdkafka (Apache Kafka client) setting is accepted.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: DEFAULT_BROKERS.to_owned(),
            properties: BTreeMap::new(),
        }
    }
}

/// Connection settings of every client, each a standard Apache Kafka client setting.
const CONNECTION: &[(&str, &str)] = &[
    // librdkafka backs off up to 10 s between reconnects by default, so after an outage the
    // first attempt could come 10 s after the broker is back. Retry at least every second (the
    // Java client's default) so that publishing and viewing resume within seconds.
    ("reconnect.backoff.max.ms", "1000"),
];

/// Properties whose values are secrets: never logged.
fn is_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.ends_with(".pem")
        || key.contains("key")
}

impl KafkaSettings {
    /// A librdkafka configuration with the brokers, `client.id`, the connection defaults below
    /// and the extra properties (which win).
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        for (k, v) in CONNECTION {
            cfg.set(*k, *v);
        }
        for (k, v) in &self.properties {
            cfg.set(k, v);
        }
        cfg
    }

    /// A copy with secret property values replaced by `***`, for printing.
    pub fn without_secrets(&self) -> Self {
        let mut out = self.clone();
        for (k, v) in out.properties.iter_mut() {
            if is_secret(k) {
                *v = "***".to_owned();
            }
        }
        out
    }

    /// A display of the settings with secret values replaced by `***`, for logs.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }

    /// Asks the cluster for its metadata: Ok with the number of brokers it knows, or the error
    /// that says why it cannot be reached within `timeout`. Blocking.
    pub fn probe(&self, timeout: Duration) -> Result<usize, rdkafka::error::KafkaError> {
        let consumer: BaseConsumer = self.client_config("posestream-probe").create()?;
        let md = consumer.fetch_metadata(None, timeout)?;
        Ok(md.brokers().len())
    }
}

/// See [`KafkaSettings::redacted`].
pub struct Redacted<'a>(&'a KafkaSettings);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "brokers={}", self.0.brokers)?;
        for (k, v) in &self.0.properties {
            let v = if is_secret(k) { "***" } else { v.as_str() };
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// librdkafka's own errors and warnings, logged at most once per [`QUIET_INTERVAL`] per client
/// with the number of lines held back, and counted. librdkafka reports a lost broker several
/// times a second; an outage of an hour must not write tens of thousands of log lines.
#[derive(Debug)]
pub struct ClientLog {
    name: &'static str,
    /// Errors and warnings librdkafka reported.
    pub reported: std::sync::atomic::AtomicU64,
    window: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

/// At most one librdkafka error or warning line per client in this interval.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(10);

impl ClientLog {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            reported: Default::default(),
            window: std::sync::Mutex::new((None, 0)),
        }
    }

    /// Logs `line` unless a line was logged in the last interval; counts it either way.
    fn report(&self, warning: bool, line: std::fmt::Arguments<'_>) {
        use std::sync::atomic::Ordering;
        let total = self.reported.fetch_add(1, Ordering::Relaxed) + 1;
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if w.0
            .is_some_and(|last| now.duration_since(last) < QUIET_INTERVAL)
        {
            w.1 += 1;
            return;
        }
        let held_back = std::mem::take(&mut w.1);
        w.0 = Some(now);
        drop(w);
        let client = self.name;
        if warning {
            tracing::warn!(client, held_back, total, "librdkafka: {line}");
        } else {
            tracing::error!(client, held_back, total, "librdkafka: {line}");
        }
    }

    /// For [`ClientContext::log`].
    pub fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        match level {
            L::Emerg | L::Alert | L::Critical | L::Error => {
                self.report(false, format_args!("{fac} {message}"))
            }
            L::Warning => self.report(true, format_args!("{fac} {message}")),
            L::Notice | L::Info => {
                tracing::info!(client = self.name, "librdkafka: {fac} {message}")
            }
            L::Debug => tracing::debug!(client = self.name, "librdkafka: {fac} {message}"),
        }
    }

    /// For [`ClientContext::error`].
    pub fn error(&self, error: &rdkafka::error::KafkaError, reason: &str) {
        self.report(false, format_args!("{error}: {reason}"));
    }
}

/// A client context that logs librdkafka through a [`ClientLog`] (for consumers and admin
/// clients; producers with their own context call [`ClientLog`] from it).
#[derive(Debug)]
pub struct QuietContext(pub ClientLog);

impl rdkafka::ClientContext for QuietContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.0.log(level, fac, message);
    }
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.error(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for QuietContext {}

/// Parses a `key=value` librdkafka property (for command-line flags).
pub fn parse_property(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_applied_and_secrets_redacted() {
        let mut s = KafkaSettings::default();
        s.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        s.properties
            .insert("sasl.password".into(), "hunter2".into());
        let cfg = s.client_config("t");
        assert_eq!(cfg.get("bootstrap.servers"), Some(DEFAULT_BROKERS));
        assert_eq!(cfg.get("sasl.password"), Some("hunter2"));
        let shown = s.redacted().to_string();
        assert!(shown.contains("security.protocol=SASL_SSL"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(s.without_secrets().properties["sasl.password"], "***");
    }

    #[test]
    fn sasl_ssl_settings_reach_librdkafka() {
        // librdkafka validates properties when the client is created: these must be accepted
        // by the bundled build (it has OpenSSL, so SCRAM and TLS are available).
        let mut s = KafkaSettings::default();
        for (k, v) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "edge"),
            ("sasl.password", "secret"),
        ] {
            s.properties.insert(k.into(), v.into());
        }
        let created: Result<BaseConsumer, _> = s.client_config("t").create();
        assert!(created.is_ok(), "{:?}", created.err());
        // TLS files are read when the client is created: a wrong CA path is an error then.
        let mut bad_ca = s.clone();
        bad_ca
            .properties
            .insert("ssl.ca.location".into(), "/nonexistent/ca.pem".into());
        let created: Result<BaseConsumer, _> = bad_ca.client_config("t").create();
        let err = created.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("ssl.ca.location") || err.contains("ca.pem"),
            "{err}"
        );
        s.properties.insert("no.such.setting".into(), "1".into());
        let created: Result<BaseConsumer, _> = s.client_config("t").create();
        assert!(created.is_err());
    }

    #[test]
    fn property_parsing() {
        assert_eq!(parse_property("a.b=c=d"), Ok(("a.b".into(), "c=d".into())));
        assert!(parse_property("novalue").is_err());
        assert!(parse_property("=x").is_err());
    }
}
