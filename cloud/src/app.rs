//! `pose-cloud run` as a library call: [`run`] takes the configuration, a bound listener and a
//! shutdown future, so tests can drive the real service on port 0; `main` is a thin shell.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::CloudConfig;
use crate::serve::AppState;

/// Why the service could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Auth(#[from] crate::access::AuthError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot create the Kafka consumer: {0}")]
    Consumer(#[source] KafkaError),
    #[error("cannot create the Kafka client of the camera directory: {0}")]
    Directory(#[source] KafkaError),
    #[error("cannot start the TLS listener: {0}")]
    TlsListener(#[source] std::io::Error),
    #[error("HTTP server failed: {0}")]
    Server(#[source] std::io::Error),
    #[error("consumer or service task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The service: consumer → join → render → hub → HTTP on `listener`, until `shutdown`
/// completes. Then the streams end, the consumer commits and the status task logs a last line.
pub async fn run(
    cfg: &CloudConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let creds = cfg.http.auth.credentials()?.map(Arc::new);
    let tls = cfg.http.tls.server_config()?;
    // The public URL rides in the client id: the group's description is the directory of which
    // instance shows which camera (directory.rs).
    let public_url = cfg.http.public_url.as_deref();
    let consumer = crate::consume::subscribe(
        &cfg.kafka,
        &cfg.topics,
        &cfg.consume,
        &crate::directory::client_id(public_url),
    )
    .map_err(RunError::Consumer)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let state = AppState::new(stop_rx.clone());
    if let Some(url) = public_url {
        let directory = crate::directory::Directory::new(
            &cfg.kafka,
            &cfg.consume.group_id,
            &cfg.topics.keypoints,
            url,
        )
        .map_err(RunError::Directory)?;
        let _ = state.directory.set(Arc::new(directory));
    }
    // The analytics' events (events.rs): shown per camera, never fatal.
    let events = crate::events::spawn(
        &cfg.kafka,
        &cfg.events,
        state.events.clone(),
        stop_rx.clone(),
    );
    // Replay and export from Kafka's retention (issue 16): its own readers, never this group.
    {
        let replays = crate::replay::Replays::new(
            &cfg.kafka,
            &cfg.topics,
            cfg.join.to_join_config(),
            cfg.http.jpeg_quality,
            cfg.replay.clone(),
        );
        let every = Duration::from_secs(cfg.replay.retained_refresh_s.max(1));
        replays.retained.spawn_refresher(every, stop_rx.clone());
        state
            .telemetry
            .register_collector(Box::new(crate::replay_http::ReplayCollector {
                replays: replays.clone(),
                hub: state.hub.clone(),
            }));
        let _ = state.replay.set(replays);
    }
    let pipeline = crate::service::spawn(
        consumer,
        cfg.topics.clone(),
        cfg.join.to_join_config(),
        cfg.http.jpeg_quality,
        state.clone(),
    );
    let status = tokio::spawn(status_loop(
        state.clone(),
        Duration::from_secs(cfg.status_interval_s.max(1)),
    ));
    let addr = listener.local_addr().map_err(RunError::Server)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(%addr, kafka = %cfg.kafka.redacted(), group = %cfg.consume.group_id,
        authentication = creds.is_some(), "viewer at {scheme}://{addr}/");
    let app = crate::serve::app(state.clone(), creds);
    let mut server_stop = stop_rx.clone();
    let stopped = async move {
        let _ = server_stop.wait_for(|s| *s).await;
    };
    let server = async move {
        match tls {
            Some(tls) => {
                let listener =
                    crate::tls::TlsListener::new(listener, tls).map_err(RunError::TlsListener)?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped)
                    .await
            }
        }
        .map_err(RunError::Server)
    };
    tokio::select! {
        r = server => r?,
        _ = shutdown => {}
    }
    // Ends the streams, the consumer (which commits) and the status task.
    let _ = stop_tx.send(true);
    pipeline.join().await?;
    let _ = status.await;
    if let Some(events) = events {
        let _ = events.await;
    }
    crate::status::log_cameras(&state);
    info!("cloud stopped");
    Ok(())
}

/// A status line per interval until shutdown.
async fn status_loop(state: Arc<AppState>, every: Duration) {
    let mut stop = state.shutdown.clone();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => crate::status::log_cameras(&state),
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
