//! The ffmpeg-backed video source on the sample video (`scripts/fetch-samples.sh`), and the
//! rpicam source against a stand-in `rpicam-vid` (`tests/bin/rpicam-vid`: raw I420 frames made by
//! ffmpeg, delivered at the camera's rate).

use std::path::PathBuf;
use std::time::Instant;

use pose_edge::source::Source;
use pose_edge::source::ffmpeg::{Ffmpeg, Input};
use pose_edge::source::rpicam::{Rpicam, RpicamSettings};

fn standin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bin/rpicam-vid")
}

/// Starts the stand-in with its settings in the environment (each test its own variables, passed
/// to the child only: the stand-in reads them, the test process's environment stays as it is).
fn rpicam(
    width: u32,
    height: u32,
    env: &[(&str, &str)],
) -> Result<(Rpicam, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let wrapper = dir.path().join("rpicam-vid");
    let exports: String = env
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n{exports}exec '{}' \"$@\"\n",
            standin().display()
        ),
    )
    .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    // The directory lives as long as the source (the shell reads the wrapper while starting).
    Rpicam::open(RpicamSettings {
        program: wrapper,
        camera: 0,
        width,
        height,
        fps: 30.0,
    })
    .map(|src| (src, dir))
    .map_err(|e| e.to_string())
}

fn carphone() -> PathBuf {
    pose_shared::fixtures::sample_video()
}

#[test]
fn video_file_plays_every_frame_then_ends() {
    let mut src = Ffmpeg::open(Input::File {
        path: carphone(),
        looped: false,
        paced: false,
    })
    .unwrap();
    assert!(src.describe().contains("176x144"), "{}", src.describe());
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!((f.width, f.height, f.rgb.len()), (176, 144, 176 * 144 * 3));
        assert_eq!(f.seq, n);
        n += 1;
    }
    assert_eq!(n, 120);
}

#[test]
fn looped_video_goes_on_and_paced_video_keeps_its_rate() {
    let mut src = Ffmpeg::open(Input::File {
        path: carphone(),
        looped: true,
        paced: false,
    })
    .unwrap();
    for _ in 0..150 {
        assert!(
            src.next_frame().unwrap().is_some(),
            "a looped video does not end"
        );
    }
    let mut paced = Ffmpeg::open(Input::File {
        path: carphone(),
        looped: false,
        paced: true,
    })
    .unwrap();
    let start = Instant::now();
    for _ in 0..16 {
        paced.next_frame().unwrap();
    }
    // 15 frame periods at 29.97 fps: about 0.5 s.
    let secs = start.elapsed().as_secs_f64();
    assert!(secs > 0.45, "paced at the file's rate, took {secs:.3} s");
}

#[test]
fn a_file_that_is_not_a_video_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("clip.mp4");
    std::fs::write(&bad, b"not a video at all").unwrap();
    let err = Ffmpeg::open(Input::File {
        path: bad,
        looped: false,
        paced: false,
    })
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("no readable video stream"),
        "{err}"
    );
}

#[test]
fn rpicam_delivers_frames_at_the_camera_rate_then_ends() {
    let args = tempfile::NamedTempFile::new().unwrap();
    let args_path = args.path().to_str().unwrap().to_owned();
    let (mut src, _dir) = rpicam(
        640,
        480,
        &[
            ("RPICAM_STANDIN_FRAMES", "20"),
            ("RPICAM_STANDIN_ARGS", &args_path),
        ],
    )
    .unwrap();
    assert!(src.describe().contains("640x480"), "{}", src.describe());
    let start = Instant::now();
    let mut n = 0;
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!((f.width, f.height, f.rgb.len()), (640, 480, 640 * 480 * 3));
        assert_eq!(f.seq, n);
        n += 1;
    }
    assert_eq!(n, 20);
    // 19 periods at 30 fps: about 0.63 s (the camera's own rate; the source adds no pacing).
    let secs = start.elapsed().as_secs_f64();
    assert!(secs > 0.5, "camera rate, took {secs:.3} s");
    let given = std::fs::read_to_string(&args_path)
        .unwrap()
        .replace('\n', " ");
    assert!(given.contains("--codec yuv420"), "{given}");
    assert!(given.contains("--width 640 --height 480"), "{given}");
}

#[test]
fn rpicam_frames_match_ffmpegs_rgb_of_the_same_video() {
    let video = carphone();
    let video = video.to_str().unwrap();
    let (mut cam, _dir) = rpicam(
        704,
        576,
        &[
            ("RPICAM_STANDIN_VIDEO", video),
            ("RPICAM_STANDIN_FRAMES", "1"),
        ],
    )
    .unwrap();
    let ours = cam.next_frame().unwrap().expect("one frame");
    // ffmpeg's own YUV -> RGB of the same scaled frame (it scales from the same I420 decode).
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            video,
        ])
        .args(["-frames:v", "1", "-vf", "scale=704:576,format=yuv420p"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), ours.rgb.len());
    let mean: f64 = ours
        .rgb
        .iter()
        .zip(&out.stdout)
        .map(|(&a, &b)| f64::from(a.abs_diff(b)))
        .sum::<f64>()
        / ours.rgb.len() as f64;
    assert!(mean < 4.0, "mean |difference| {mean:.2} per channel");
}

#[test]
fn rpicam_that_dies_mid_frame_is_an_error_and_bad_sizes_are_refused() {
    let (mut src, _dir) = rpicam(640, 480, &[("RPICAM_STANDIN_SHORT", "1")]).unwrap();
    let err = src.next_frame().expect_err("a short frame is an error");
    assert!(err.to_string().contains("mid-frame"), "{err}");
    let Err(err) = rpicam(650, 480, &[]) else {
        panic!("650 is not a multiple of 64, yet accepted");
    };
    assert!(err.contains("multiple of 64"), "{err}");
}
