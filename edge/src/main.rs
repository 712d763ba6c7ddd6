//! `pose-edge`: the edge service's command line (a thin layer over the `pose_edge` library).

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pose_edge::config::{EdgeConfig, EdgeFlags};
use pose_edge::infer::{self, InferOptions};
use pose_edge::pose::PoseEstimator;
use pose_edge::publish::Publisher;
use pose_shared::settings::Settings;

/// posestream edge: capture frames, estimate poses, publish keypoints and JPEGs to Kafka.
///
/// Settings come from built-in defaults, then the TOML file given by --config, then environment
/// variables (POSE_EDGE__SECTION__KEY for any setting of the file, POSE_EDGE_<FLAG> as listed
/// below), then flags.
#[derive(Parser)]
#[command(name = "pose-edge", version)]
struct Cli {
    #[command(flatten)]
    flags: EdgeFlags,
    /// Load and validate the configuration, load the models and create the Kafka clients (which
    /// reads TLS files), without opening the camera or reaching the broker; print the
    /// configuration with secrets masked and exit 0 if it is usable (deployment checks).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Capture, estimate and publish until stopped (SIGINT/SIGTERM) or --max-frames is reached.
    Run,
    /// Estimate poses in image files: one JSON line per image on stdout.
    ///
    /// Each line is {"image": PATH, "width": W, "height": H, "poses": [{"score": S, "landmarks":
    /// [[x, y, z, visibility, presence], ... 33]]}] with x, y normalized to the image, or
    /// {"image": PATH, "error": MESSAGE}. The exit status is 1 if any image failed.
    Infer {
        /// Treat the images as consecutive video frames (tracking and smoothing) and end with a
        /// summary line {"summary": {"frames", "seconds", "fps", "detector_runs", ...}}.
        #[arg(long)]
        track: bool,
        /// Also write each image with its skeleton drawn into DIR (PNG, same base name).
        #[arg(long, value_name = "DIR")]
        annotate: Option<std::path::PathBuf>,
        /// Image files (JPEG or PNG).
        #[arg(required = true)]
        images: Vec<std::path::PathBuf>,
    },
    /// Check the configuration and that the broker answers; print a diagnosis.
    Check,
    /// List the frame sources available on this machine.
    Sources,
    /// Print the effective configuration (after file, environment and flags) and exit.
    Config,
}

fn main() -> std::process::ExitCode {
    pose_shared::settings::main_with("pose-edge", real_main)
}

fn real_main() -> anyhow::Result<()> {
    let cli: Cli = pose_shared::settings::parse_cli(EdgeConfig::ENV_PREFIX);
    let cfg = EdgeConfig::load_with(&cli.flags)?;
    if cli.check_config {
        return check_config(&cfg);
    }
    let Some(command) = cli.command else {
        anyhow::bail!("no command given: try `pose-edge run`, or `pose-edge --help`");
    };
    match command {
        Command::Config => {
            print!("{}", cfg.to_toml_redacted());
            Ok(())
        }
        Command::Check => check(&cfg),
        Command::Sources => {
            sources(&cfg);
            Ok(())
        }
        Command::Infer {
            track,
            annotate,
            images,
        } => {
            let paths = cfg.pose.model_paths();
            let mut estimator = PoseEstimator::new(&paths, cfg.pose.threads)?;
            let opts = InferOptions { track, annotate };
            let failed = infer::run(
                &mut estimator,
                &images,
                &opts,
                &mut std::io::stdout().lock(),
            )
            .context("cannot write the results")?;
            anyhow::ensure!(failed == 0, "{failed} of {} images failed", images.len());
            Ok(())
        }
        Command::Run => pose_edge::service::run(&cfg).map(drop),
    }
}

/// `--check-config`: what `run` reads before it opens the camera and reaches the broker.
fn check_config(cfg: &EdgeConfig) -> anyhow::Result<()> {
    let camera_id = cfg.camera_id();
    if cfg.pose.enabled {
        PoseEstimator::new(&cfg.pose.model_paths(), cfg.pose.threads)
            .context("cannot start pose estimation")?;
    }
    Publisher::with_config(&cfg.kafka, cfg.topics.clone(), "check-config", &cfg.publish)
        .context("the Kafka settings are not accepted")?;
    print!("{}", cfg.to_toml_redacted());
    println!(
        "# ok: camera {camera_id}, source {}, pose {}, brokers {}",
        cfg.source.kind,
        if cfg.pose.enabled { "on" } else { "off" },
        cfg.kafka.brokers
    );
    Ok(())
}

fn check(cfg: &EdgeConfig) -> anyhow::Result<()> {
    println!("camera id     {}", cfg.camera_id());
    println!("kafka         {}", cfg.kafka.redacted());
    let source = pose_edge::source::open(&cfg.source)?;
    println!("source        ok: {}", source.describe());
    if cfg.pose.enabled {
        let paths = cfg.pose.model_paths();
        PoseEstimator::new(&paths, cfg.pose.threads)?;
        println!(
            "pose          ok: models in {}, {} thread(s)",
            paths
                .detector
                .parent()
                .map_or_else(String::new, |p| p.display().to_string()),
            cfg.pose.threads
        );
    } else {
        println!("pose          disabled");
    }
    match cfg.kafka.probe(Duration::from_secs(5)) {
        Ok(n) => println!("broker        ok: {n} broker(s) answered"),
        Err(e) => anyhow::bail!("broker        FAILED: {e} (is it running? `make broker`)"),
    }
    Ok(())
}

fn sources(cfg: &EdgeConfig) {
    println!("synthetic   available: moving test pattern (--source synthetic)");
    println!(
        "images      available: a directory of PNG/JPEG files (--source images --source-path DIR)"
    );
    let ffmpeg = std::process::Command::new("ffmpeg")
        .arg("-version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        });
    match &ffmpeg {
        Some(v) => println!("video       available: {v} (--source video --source-path FILE)"),
        None => println!("video       unavailable: ffmpeg not found (apt-get install ffmpeg)"),
    }
    let devices = pose_edge::source::ffmpeg::v4l2_devices();
    if devices.is_empty() {
        println!("v4l2        no /dev/video* devices");
    }
    for (dev, name) in devices {
        let how = if ffmpeg.is_some() {
            ""
        } else {
            " (needs ffmpeg)"
        };
        println!(
            "v4l2        {} {name:?}{how} (--source v4l2 --device {})",
            dev.display(),
            dev.display()
        );
    }
    let rpicam = &cfg.source.rpicam_program;
    match pose_edge::source::rpicam::list(rpicam) {
        Ok(cams) if cams.is_empty() => println!("rpicam      no cameras ({})", rpicam.display()),
        Ok(cams) => {
            for (i, line) in cams.iter().enumerate() {
                println!("rpicam      {line} (--source rpicam, source.camera = {i})");
            }
        }
        Err(e) => println!("rpicam      unavailable: {e}"),
    }
    #[cfg(feature = "libcamera")]
    match pose_edge::source::libcamera::list() {
        Ok(cams) if cams.is_empty() => println!("libcamera   no cameras"),
        Ok(cams) => {
            for (i, id) in cams {
                println!("libcamera   camera {i}: {id} (--source libcamera, source.camera = {i})");
            }
        }
        Err(e) => println!("libcamera   unavailable: {e}"),
    }
    #[cfg(not(feature = "libcamera"))]
    println!(
        "libcamera   not in this build (build with --features libcamera; needs libcamera >= 0.4)"
    );
}
