//! `pose-cloud`: the cloud service's command line (a thin layer over the `pose_cloud` library).

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pose_cloud::config::{CloudConfig, CloudFlags};
use pose_shared::settings::Settings;
use tracing::info;

/// posestream cloud: consume keypoints and frames from Kafka, join them and serve them.
///
/// Settings come from built-in defaults, then the TOML file given by --config, then environment
/// variables (POSE_CLOUD__SECTION__KEY for any setting of the file, POSE_CLOUD_<FLAG> as listed
/// below), then flags.
#[derive(Parser)]
#[command(name = "pose-cloud", version)]
struct Cli {
    #[command(flatten)]
    flags: CloudFlags,
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
    /// Write a camera's recorded frames (drawn, as an MP4) and keypoints (JSON lines) between two
    /// times, from what Kafka retains.
    Export(ExportArgs),
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
    /// How long events are kept, ms [default: 7 days]; the events topic is `events.topic` of
    /// the configuration (none when empty)
    #[arg(long, default_value_t = pose_cloud::events::EVENTS_RETENTION_MS)]
    events_retention_ms: u64,
}

#[derive(clap::Args)]
struct ExportArgs {
    /// Camera id
    #[arg(long)]
    camera: String,
    /// Start: RFC 3339 (2026-12-03T12:00:00Z), relative ("10 min ago") or Unix ms
    #[arg(long)]
    from: String,
    /// End, in the same forms [default: now]
    #[arg(long, default_value = "now")]
    to: String,
    /// Output path without extension: writes PREFIX.mp4 and PREFIX.jsonl [default: CAMERA-FROM]
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Video frame rate [default: the camera's, from its frame intervals]
    #[arg(long)]
    fps: Option<f64>,
    /// Only the keypoints (no video, no ffmpeg needed)
    #[arg(long)]
    no_video: bool,
}

fn main() -> std::process::ExitCode {
    pose_shared::settings::main_with("pose-cloud", real_main)
}

fn real_main() -> anyhow::Result<()> {
    let cli: Cli = pose_shared::settings::parse_cli(CloudConfig::ENV_PREFIX);
    let cfg = CloudConfig::load_with(&cli.flags)?;
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
        Command::Run => runtime()?.block_on(async {
            let addr = cfg.http.addr;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            Ok(pose_cloud::app::run(&cfg, listener, shutdown_signal()).await?)
        }),
        Command::Tail => {
            runtime()?.block_on(async { Ok(pose_cloud::tail::run(&cfg, shutdown_signal()).await?) })
        }
        Command::Export(args) => runtime()?.block_on(export(&cfg, args)),
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

/// `export`: one camera's stretch from Kafka to PREFIX.mp4 and PREFIX.jsonl; prints a summary.
async fn export(cfg: &CloudConfig, args: ExportArgs) -> anyhow::Result<()> {
    use pose_cloud::timespec;
    let now = pose_shared::time::now_us();
    let camera = pose_shared::CameraId::new(&args.camera).context("--camera")?;
    let from = timespec::parse(&args.from, now).context("--from")?;
    let to = timespec::parse(&args.to, now).context("--to")?;
    let prefix = args.out.unwrap_or_else(|| {
        format!("{}-{}", camera, timespec::format(from).replace(':', "")).into()
    });
    let with = |ext: &str| {
        let mut p = prefix.clone().into_os_string();
        p.push(ext);
        std::path::PathBuf::from(p)
    };
    let replays = pose_cloud::replay::Replays::new(
        &cfg.kafka,
        &cfg.topics,
        cfg.join.to_join_config(),
        cfg.http.jpeg_quality,
        cfg.replay.clone(),
    );
    let req = pose_cloud::export::ExportRequest {
        camera,
        from_us: from,
        to_us: to,
        fps: args.fps,
        mp4: (!args.no_video).then(|| with(".mp4")),
        jsonl: Some(with(".jsonl")),
    };
    let done = pose_cloud::export::export(&replays, req.clone())
        .await
        .context("export failed")?;
    info!(mp4 = ?req.mp4, jsonl = ?req.jsonl, "exported");
    println!("{}", serde_json::to_string(&done)?);
    Ok(())
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

/// Completes on the first SIGINT or SIGTERM; a second one exits at once (status 130), so a
/// shutdown stuck on the broker can always be cut short.
async fn shutdown_signal() {
    signal().await;
    info!("stopping (signal again to exit now)");
    tokio::spawn(async {
        signal().await;
        std::process::exit(130);
    });
}

async fn signal() {
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
}
