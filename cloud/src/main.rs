//! `pose-cloud`: the cloud service's command line (a thin layer over the `pose_cloud` library).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use std::io::IsTerminal;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pose_cloud::config::{CloudConfig, Overrides};
use pose_cloud::consume::{self, ConsumeStats, Incoming};
use pose_cloud::status::Tally;
use tokio::sync::mpsc;
use tracing::info;

/// posestream cloud: consume keypoints and frames from Kafka, join them and serve them.
///
/// Settings come from built-in defaults, then the TOML file given by --config, then environment
/// variables (POSE_CLOUD_*), then flags.
#[derive(Parser)]
#[command(name = "pose-cloud", version)]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    /// Load and validate the configuration (files it names included: TLS certificate and key,
    /// password file), print it with secrets masked, and exit: 0 if it is usable.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume both topics, join and draw them, serve the viewer and API until SIGINT/SIGTERM.
    Run,
    /// Print every message as one JSON line on stdout (keypoints in full, frames as metadata).
    Tail,
    /// Check the configuration and that the broker answers; print a diagnosis.
    Check,
    /// Print the effective configuration (after file, environment and flags) and exit.
    Config,
    /// Create the keypoint, frame and event topics (or bring an existing one's retention to
    /// these values) with the project's admin client; `scripts/broker.sh start` runs it.
    Topics(TopicsArgs),
}

#[derive(clap::Args)]
struct TopicsArgs {
    /// Partitions of each topic (both topics must have the same count: the join needs both
    /// halves of a camera in one consumer instance)
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Replicas of each partition; with 3 or more the keypoint topic gets min.insync.replicas=2
    #[arg(long, default_value_t = 1)]
    replication_factor: i32,
    /// How long frames are kept, ms [default: 6 h]
    #[arg(long, default_value_t = pose_cloud::admin::FRAMES_RETENTION_MS)]
    frames_retention_ms: u64,
    /// How long keypoints are kept, ms [default: 7 days]
    #[arg(long, default_value_t = pose_cloud::admin::KEYPOINTS_RETENTION_MS)]
    keypoints_retention_ms: u64,
    /// How long events are kept, ms [default: 7 days]; the events topic is the one of
    /// --events-topic (none when empty)
    #[arg(long, default_value_t = pose_cloud::events::EVENTS_RETENTION_MS)]
    events_retention_ms: u64,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rdkafka=warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pose-cloud: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = CloudConfig::load(&cli.overrides)?;
    if cli.check_config {
        return check_config(&cfg);
    }
    let Some(command) = cli.command else {
        anyhow::bail!("no command given: try `pose-cloud run`, or `pose-cloud --help`");
    };
    match command {
        Command::Config => {
            print!("{}", cfg.to_toml_redacted());
            Ok(())
        }
        Command::Check => {
            println!("kafka         {}", cfg.kafka.redacted());
            match cfg.kafka.probe(Duration::from_secs(5)) {
                Ok(n) => println!("broker        ok: {n} broker(s) answered"),
                Err(e) => anyhow::bail!("broker        FAILED: {e} (is it running? `make broker`)"),
            }
            Ok(())
        }
        Command::Run => runtime()?.block_on(serve_loop(&cfg)),
        Command::Tail => runtime()?.block_on(tail_loop(&cfg)),
        Command::Topics(args) => {
            let mut plans = pose_cloud::admin::TopicPlan::pair(
                &cfg.topics,
                args.partitions,
                args.replication_factor,
                args.frames_retention_ms,
                args.keypoints_retention_ms,
            )
            .to_vec();
            if !cfg.events.topic.is_empty() {
                plans.push(pose_cloud::admin::TopicPlan::events(
                    &cfg.events.topic,
                    args.partitions,
                    args.replication_factor,
                    args.events_retention_ms,
                ));
            }
            let done = runtime()?
                .block_on(pose_cloud::admin::ensure(
                    &cfg.kafka,
                    &plans,
                    Duration::from_secs(30),
                ))
                .with_context(|| format!("cannot create the topics at {}", cfg.kafka.brokers))?;
            for (plan, (name, outcome)) in plans.iter().zip(done) {
                let settings: Vec<String> = plan
                    .config
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!(
                    "topic {name}: {} ({} partitions, replication {}, {})",
                    match outcome {
                        pose_cloud::admin::Outcome::Created => "created",
                        pose_cloud::admin::Outcome::Updated => "exists, settings applied",
                    },
                    plan.partitions,
                    plan.replication,
                    settings.join(" ")
                );
            }
            Ok(())
        }
    }
}

/// `--check-config`: everything `run` would read before it touches the network.
fn check_config(cfg: &CloudConfig) -> anyhow::Result<()> {
    let creds = cfg.viewer_credentials()?;
    let tls = cfg.tls_config()?;
    // librdkafka checks the properties (and reads TLS files) when a client is created.
    let _: rdkafka::consumer::BaseConsumer = cfg
        .kafka
        .client_config("check-config")
        .create()
        .context("the Kafka settings are not accepted")?;
    print!("{}", cfg.to_toml_redacted());
    println!(
        "# ok: viewer on {}://{} with {}",
        if tls.is_some() { "https" } else { "http" },
        cfg.http.addr,
        match &creds {
            Some(_) => "authentication",
            None => "no authentication",
        }
    );
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The service: consumer → join → render → hub → HTTP, until a signal.
async fn serve_loop(cfg: &CloudConfig) -> anyhow::Result<()> {
    let addr = cfg.http_addr()?;
    let creds = cfg.viewer_credentials()?.map(Arc::new);
    let tls = cfg.tls_config()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // The public URL rides in the client id: the group's description is the directory of which
    // instance shows which camera (directory.rs).
    let public_url = cfg.http.public_url.as_deref();
    let consumer = consume::subscribe(
        &cfg.kafka,
        &cfg.topics,
        &cfg.consume,
        &pose_cloud::directory::client_id(public_url),
    )
    .context("cannot create the Kafka consumer")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let state = pose_cloud::serve::AppState::new(stop_rx.clone());
    if let Some(url) = public_url {
        let directory = pose_cloud::directory::Directory::new(
            &cfg.kafka,
            &cfg.consume.group_id,
            &cfg.topics.keypoints,
            url,
        )
        .context("cannot create the Kafka client of the camera directory")?;
        let _ = state.directory.set(Arc::new(directory));
    }
    let events = pose_cloud::events::spawn(
        &cfg.kafka,
        &cfg.events,
        state.events.clone(),
        stop_rx.clone(),
    );
    let pipeline = pose_cloud::service::spawn(
        consumer,
        cfg.topics.clone(),
        cfg.join.to_join_config(),
        cfg.http.jpeg_quality,
        state.clone(),
    );
    let status = {
        let (state, every) = (
            state.clone(),
            Duration::from_secs(cfg.status_interval_s.max(1)),
        );
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => log_cameras(&state),
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        })
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(%addr, kafka = %cfg.kafka.redacted(), group = %cfg.consume.group_id,
        authentication = creds.is_some(), "viewer at {scheme}://{addr}/");
    let app = pose_cloud::serve::app(state.clone(), creds);
    let mut server_stop = stop_rx.clone();
    let stopped = async move {
        let _ = server_stop.wait_for(|s| *s).await;
    };
    let server = async move {
        match tls {
            Some(tls) => {
                let listener = pose_cloud::tls::TlsListener::new(listener, tls)
                    .context("cannot start the TLS listener")?;
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
        .context("HTTP server failed")
    };
    tokio::select! {
        r = server => r?,
        _ = shutdown_signal() => {}
    }
    // Ends the streams, the consumer (which commits) and the status task.
    let _ = stop_tx.send(true);
    pipeline
        .join()
        .await
        .context("consumer or service task failed")?;
    let _ = status.await;
    if let Some(events) = events {
        let _ = events.await;
    }
    log_cameras(&state);
    info!("cloud stopped");
    Ok(())
}

fn log_cameras(state: &pose_cloud::serve::AppState) {
    let g = ConsumeStats::get;
    let c = &state.consume;
    let j = state.join.lock().unwrap_or_else(|p| p.into_inner()).clone();
    info!(
        keypoints = g(&c.keypoints),
        frames = g(&c.frames),
        keypoint_errors = g(&c.keypoint_errors),
        frame_errors = g(&c.frame_errors),
        kafka_errors = g(&c.kafka_errors),
        joined = j.joined,
        stale = j.stale,
        late = j.late,
        edge_restarts = j.new_run,
        old_run = j.old_run,
        render_errors = state
            .render_errors
            .load(std::sync::atomic::Ordering::Relaxed),
        "status"
    );
    for cam in state.hub.cameras(std::time::Instant::now()) {
        info!(camera = %cam.id, state = cam.state, last_seen_s = cam.last_seen_s, fps = cam.fps, latency_ms = cam.latency_ms, viewers = cam.viewers, "camera");
    }
}

/// `tail`: consumes until a signal, writes every message as a JSON line, logs per-camera status.
async fn tail_loop(cfg: &CloudConfig) -> anyhow::Result<()> {
    let consumer = consume::subscribe(&cfg.kafka, &cfg.topics, &cfg.consume, "pose-cloud")
        .context("cannot create the Kafka consumer")?;
    info!(kafka = %cfg.kafka.redacted(), keypoints_topic = %cfg.topics.keypoints,
        frames_topic = %cfg.topics.frames, group = %cfg.consume.group_id, "cloud started");
    let stats = Arc::new(ConsumeStats::default());
    // Bounded hand-off: when full the consumer waits, Kafka holds the rest (see consume.rs).
    let (tx, mut rx) = mpsc::channel::<Incoming>(256);
    let task = tokio::spawn(consume::run(
        consumer,
        cfg.topics.clone(),
        tx,
        stats.clone(),
        shutdown_signal(),
    ));
    let mut tally = Tally::default();
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.status_interval_s.max(1)));
    tick.tick().await;
    let mut out = std::io::stdout().lock();
    loop {
        tokio::select! {
            m = rx.recv() => {
                let Some(m) = m else { break };
                let line = match &m {
                    Incoming::Keypoints(k) => serde_json::json!({"keypoints": k.to_json()}),
                    Incoming::Frame(f) => serde_json::json!({"frame": {
                        "camera_id": f.meta.camera_id, "seq": f.meta.seq,
                        "capture_ts_us": f.meta.capture_ts_us, "width": f.meta.width,
                        "height": f.meta.height, "jpeg_bytes": f.jpeg.len()}}),
                };
                if writeln!(out, "{line}").is_err() {
                    break; // stdout closed (e.g. `| head`)
                }
                tally.add(&m);
            }
            _ = tick.tick() => log_status(&mut tally, &stats),
        }
    }
    drop(rx);
    task.await.context("consumer task failed")?;
    log_status(&mut tally, &stats);
    info!("cloud stopped");
    Ok(())
}

fn log_status(tally: &mut Tally, stats: &ConsumeStats) {
    let g = ConsumeStats::get;
    info!(
        keypoints = g(&stats.keypoints),
        frames = g(&stats.frames),
        keypoint_errors = g(&stats.keypoint_errors),
        frame_errors = g(&stats.frame_errors),
        kafka_errors = g(&stats.kafka_errors),
        "status"
    );
    for (camera, t) in tally.take() {
        info!(%camera, keypoints = t.keypoints, frames = t.frames, poses = t.poses,
            last_seq = t.last_seq, latency_ms = t.mean_latency_ms().map(|l| format!("{l:.1}")),
            "camera");
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    info!("stopping");
}
