//! The ffmpeg-backed video source on the sample video (`scripts/fetch-samples.sh`).

use std::path::PathBuf;
use std::time::Instant;

use pose_edge::source::Source;
use pose_edge::source::ffmpeg::{Ffmpeg, Input};

fn carphone() -> PathBuf {
    let cache = std::env::var_os("POSESTREAM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/posestream")
        });
    let file = cache.join("samples/carphone.mp4");
    assert!(
        file.is_file(),
        "{} is missing: run `scripts/fetch-samples.sh` (or `make test`)",
        file.display()
    );
    file
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
