//! `pose-edge run` wired together: source, pose estimator, publisher and shared state; one
//! background runtime for the signals and the metrics endpoint; the GPIO controller; then the
//! pipeline on the calling thread until the source ends or a signal stops it.

use std::sync::Arc;

use anyhow::Context;
use tracing::info;

use crate::config::EdgeConfig;
use crate::metrics::EdgeMetrics;
use crate::pipeline;
use crate::pose::PoseEstimator;
use crate::publish::Publisher;
use crate::state::{RunSummary, Shared, Stop};

/// Runs the edge service with `cfg` until it ends; a first SIGINT/SIGTERM stops it (the queues
/// are flushed), a second exits at once.
pub fn run(cfg: &EdgeConfig) -> anyhow::Result<RunSummary> {
    let camera_id = cfg.camera_id();
    let source = crate::source::open(&cfg.source)?;
    let publisher = Publisher::with_config(
        &cfg.kafka,
        cfg.topics.clone(),
        &format!("pose-edge-{camera_id}"),
        &cfg.publish,
    )
    .context("cannot create the Kafka producers")?;
    let estimator = if cfg.pose.enabled {
        Some(
            PoseEstimator::new(&cfg.pose.model_paths(), cfg.pose.threads)
                .context("cannot start pose estimation")?,
        )
    } else {
        None
    };
    let shared = Shared::new(cfg.privacy);
    let metrics = Arc::new(EdgeMetrics::new(
        &camera_id,
        shared.clone(),
        publisher.stats(),
    ));
    let finished = Arc::new(Stop::default());
    let background = spawn_background(cfg, shared.clone(), metrics, finished.clone())?;
    let gpio = crate::gpio::spawn(&cfg.gpio, shared.clone(), publisher.stats().clone())?;
    let summary = pipeline::run(cfg, &camera_id, source, estimator, &publisher, &shared);
    shared.stop.set();
    finished.set();
    if let Some(h) = gpio {
        let _ = h.join();
    }
    let _ = background.join();
    Ok(summary)
}

/// One thread with a small runtime: the signal handler and the metrics endpoint (bound here, so
/// a taken port is an error at start). It ends once `finished` is set.
fn spawn_background(
    cfg: &EdgeConfig,
    shared: Arc<Shared>,
    metrics: Arc<EdgeMetrics>,
    finished: Arc<Stop>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let listener = match cfg.metrics_addr.addr() {
        Some(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot serve metrics on {addr}"))?;
            l.set_nonblocking(true)?;
            info!(%addr, "metrics at http://{addr}/metrics");
            Some(l)
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the background runtime")?;
    std::thread::Builder::new()
        .name("service".into())
        .spawn(move || {
            rt.block_on(async move {
                let server = async {
                    let shared = shared.clone();
                    let Some(listener) = listener else {
                        return std::future::pending().await;
                    };
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => {
                            let stop = async move { shared.stop.wait().await };
                            let served = axum::serve(l, crate::metrics::router(metrics))
                                .with_graceful_shutdown(stop)
                                .await;
                            if let Err(e) = served {
                                tracing::warn!(error = %e, "metrics endpoint stopped");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "metrics endpoint cannot start"),
                    }
                    std::future::pending::<()>().await
                };
                tokio::select! {
                    _ = finished.wait() => {}
                    _ = server => {}
                    _ = signals(&shared) => {}
                }
            })
        })
        .context("cannot start the background thread")
}

/// Sets the stop event on the first SIGINT or SIGTERM; exits the process on the second.
async fn signals(shared: &Shared) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if shared.stop.set() {
            std::process::exit(130);
        }
        info!("stopping: flushing queued messages (signal again to exit now)");
    }
}
