//! Viewer security on real sockets: HTTPS with a generated certificate, Basic authentication,
//! the open health probes, refusals counted in /metrics, and `pose-cloud --check-config`.

use std::sync::Arc;
use std::time::Duration;

use pose_cloud::access::Credentials;
use pose_cloud::serve::{AppState, app};
use pose_cloud::tls::{TlsListener, server_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

struct Pki {
    dir: tempfile_dir::Dir,
    cert_der: Vec<u8>,
}

/// A tiny temporary directory (removed on drop) without another dependency.
mod tempfile_dir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("posestream-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A self-signed certificate for `localhost`, written as PEM files.
fn pki(tag: &str) -> Pki {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile_dir::Dir::new(tag);
    std::fs::write(dir.0.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.0.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
    Pki {
        cert_der: ck.cert.der().to_vec(),
        dir,
    }
}

/// One HTTP/1.0 GET over TLS; returns the whole response as text (bodies here are small).
async fn https_get(
    addr: std::net::SocketAddr,
    roots: &RootCertStore,
    path: &str,
    auth: Option<&str>,
) -> std::io::Result<String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let auth = auth
        .map(|a| {
            use base64::Engine;
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_basic_auth() {
    let pki = pki("tls");
    let tls = server_config(&pki.dir.0.join("cert.pem"), &pki.dir.0.join("key.pem")).unwrap();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(rx.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener::new(tcp, tls).unwrap();
    let failed = listener.failed_handshakes.clone();
    let router = app(
        state.clone(),
        Some(Arc::new(Credentials::new("viewer", "s3cret pass"))),
    );
    let mut stop_rx = rx;
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
            .unwrap();
    });
    let mut roots = RootCertStore::empty();
    roots.add(pki.cert_der.clone().into()).unwrap();

    let r = https_get(addr, &roots, "/", None).await.unwrap();
    assert!(r.starts_with("HTTP/1.0 401"), "{r}");
    assert!(
        r.contains("www-authenticate: Basic realm=\"posestream\""),
        "{r}"
    );
    let r = https_get(addr, &roots, "/", Some("viewer:wrong"))
        .await
        .unwrap();
    assert!(r.starts_with("HTTP/1.0 401"), "{r}");
    let r = https_get(addr, &roots, "/api/cameras", Some("viewer:s3cret pass"))
        .await
        .unwrap();
    assert!(r.starts_with("HTTP/1.0 200") && r.ends_with("[]"), "{r}");
    let r = https_get(addr, &roots, "/", Some("viewer:s3cret pass"))
        .await
        .unwrap();
    assert!(r.contains("/api/cameras"), "the viewer page");
    // Health probes stay open for load balancers.
    let r = https_get(addr, &roots, "/healthz", None).await.unwrap();
    assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    let r = https_get(addr, &roots, "/metrics", Some("viewer:s3cret pass"))
        .await
        .unwrap();
    assert!(r.contains("pose_cloud_http_unauthorized_total 2"), "{r}");

    // Plain HTTP on the TLS port gets nothing and is counted; a client that does not trust
    // the certificate fails its handshake. Neither disturbs the server.
    let mut plain = tokio::net::TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1"),
        "no plain answer"
    );
    assert!(
        https_get(addr, &RootCertStore::empty(), "/", None)
            .await
            .is_err()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while failed.load(std::sync::atomic::Ordering::Relaxed) < 1
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(failed.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let r = https_get(addr, &roots, "/healthz", None).await.unwrap();
    assert!(r.starts_with("HTTP/1.0 200"), "still serving: {r}");

    let _ = stop.send(true);
    server.await.unwrap();
}

fn pose_cloud(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pose-cloud"));
    cmd.args(args).env_remove("POSE_CLOUD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn check_config_refuses_an_open_viewer_outside_loopback() {
    let out = pose_cloud(&["--check-config", "--http-addr", "0.0.0.0:8443"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs authentication"), "{err}");

    // Loopback without authentication is fine (the default).
    let out = pose_cloud(&["--check-config"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no authentication"));
}

#[test]
fn check_config_reads_tls_files_and_masks_the_password() {
    let pki = pki("check");
    let cert = pki.dir.0.join("cert.pem");
    let key = pki.dir.0.join("key.pem");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let env = [
        ("POSE_CLOUD_VIEWER_USER", "viewer"),
        ("POSE_CLOUD_VIEWER_PASSWORD", "pw-not-for-logs"),
    ];
    let args = [
        "--check-config",
        "--http-addr",
        "0.0.0.0:8443",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
        "--kafka-property",
        "sasl.password=kafka-secret-value",
    ];
    let out = pose_cloud(&args, &env);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("viewer on https://0.0.0.0:8443 with authentication"));
    for secret in ["pw-not-for-logs", "kafka-secret-value"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}{stderr}"
        );
    }
    // A key that is not a key is reported with its path.
    let out = pose_cloud(
        &[
            "--check-config",
            "--tls-cert",
            cert,
            "--tls-key",
            cert, // a certificate, not a key
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("private key"));
    // Username without any password.
    let out = pose_cloud(
        &["--check-config", "--viewer-user", "viewer"],
        &[("POSE_CLOUD_VIEWER_PASSWORD", "")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password is empty"));
}
