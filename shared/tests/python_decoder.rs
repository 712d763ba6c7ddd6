//! Proves that `WIRE.md` suffices: the standard-library Python decoder in `shared/python` reads
//! bytes made by the Rust encoder (both versions), passes every shared test vector, and rejects
//! the malformed ones; and that a version-1 consumer (the decoder as it was before version 2,
//! `tests/fixtures/posestream_wire_v1.py`) rejects version-2 messages by their version.

use std::path::Path;
use std::process::Command;

use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose, WorldLandmark};
use serde_json::Value;

fn pose(seed: f32) -> Pose {
    let mut landmarks = [Landmark::default(); 33];
    for (i, lm) in landmarks.iter_mut().enumerate() {
        let f = i as f32;
        *lm = Landmark {
            x: seed + f / 33.0,
            y: 1.0 - seed - f / 40.0,
            z: (f - 16.0) * 0.0123,
            visibility: (f * 0.37).fract(),
            presence: 1.0 - (f * 0.11).fract(),
        };
    }
    Pose {
        track_id: 3 + (seed * 10.0) as u32,
        score: 0.5 + seed,
        landmarks,
        world_landmarks: (seed > 0.0).then(|| {
            std::array::from_fn(|i| WorldLandmark {
                x: seed - i as f32 * 0.01,
                y: -0.5 + i as f32 * 0.03,
                z: 0.25,
            })
        }),
    }
}

fn messages() -> Vec<KeypointMessage> {
    (0..4)
        .map(|n| KeypointMessage {
            camera_id: CameraId::new(format!("cam.{n}_x-{}", "y".repeat(n * 7))).unwrap(),
            run: (1 << 52) + n as u64,
            seq: u64::MAX - n as u64,
            capture_ts_us: 1_764_100_000_000_000 + n as u64,
            inference_us: 30_000 + n as u32,
            width: 1920,
            height: 1080 - n as u32,
            frame_published: n % 2 == 0,
            poses: (0..n).map(|k| pose(k as f32 * 0.1)).collect(),
        })
        .collect()
}

fn python_decoder() -> Command {
    python("python/posestream_wire.py")
}

/// The decoder as it was on main before version 2: a version-1 consumer.
fn python_decoder_v1() -> Command {
    python("tests/fixtures/posestream_wire_v1.py")
}

fn python(script: &str) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    cmd
}

/// The shared vectors: (name, bytes, vector).
fn vectors() -> Vec<(String, Vec<u8>, Value)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/keypoints.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let hex = v["hex"].as_str().unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (v["name"].as_str().unwrap().to_owned(), bytes, v.clone())
        })
        .collect()
}

/// Runs a decoder on every vector (one file each) and returns its output lines, in order.
fn run_on_vectors(mut decoder: Command, vectors: &[(String, Vec<u8>, Value)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = vectors
        .iter()
        .map(|(name, bytes, _)| {
            let path = dir.path().join(format!("{name}.bin"));
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let out = decoder
        .arg("keypoints")
        .args(&files)
        .output()
        .expect("python3 runs");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        vectors.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

fn assert_json_close(rust: &Value, py: &Value, path: &str) {
    match (rust, py) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "{path}: rust {a} python {b}"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_json_close(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<_> = a.keys().collect();
            let mut kb: Vec<_> = b.keys().collect();
            ka.sort();
            kb.sort();
            assert_eq!(ka, kb, "{path}: keys");
            for k in ka {
                assert_json_close(&a[k], &b[k], &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(rust, py, "{path}"),
    }
}

#[test]
fn python_decoder_reads_rust_keypoint_messages() {
    let dir = tempfile::tempdir().unwrap();
    let msgs = messages();
    let mut files = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let path = dir.path().join(format!("kp{i}.bin"));
        std::fs::write(&path, m.encode().unwrap()).unwrap();
        files.push(path);
    }
    let out = python_decoder()
        .arg("keypoints")
        .args(&files)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), msgs.len());
    for (m, line) in msgs.iter().zip(&lines) {
        // The Rust view of the decoded bytes (visibility quantized exactly like the Python side).
        let rust = KeypointMessage::decode(&m.encode().unwrap())
            .unwrap()
            .to_json();
        assert_json_close(&rust, &line["message"], "message");
    }
}

#[test]
fn python_decoder_passes_every_shared_vector() {
    let vectors = vectors();
    let lines = run_on_vectors(python_decoder(), &vectors);
    for ((name, _, v), line) in vectors.iter().zip(&lines) {
        if v["valid"] == true {
            assert!(line["message"].is_object(), "{name}: {line}");
            assert_json_close(&v["json"], &line["message"], name);
        } else {
            assert_eq!(line["reason"], v["error"], "{name}: {line}");
        }
    }
    // The same check inside Python, where both sides parse JSON exactly: the decoder's dict
    // equals the vector's `json` number for number.
    let script = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import posestream_wire as w
bad = []
for v in json.load(open(sys.argv[2]))["vectors"]:
    try:
        got = w.decode_keypoints(bytes.fromhex(v["hex"]))
        if not v["valid"] or got != v["json"]:
            bad.append(v["name"])
    except w.WireError as e:
        if v["valid"] or e.reason != v["error"]:
            bad.append(v["name"])
print(json.dumps(bad))
"#;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(root.join("python"))
        .arg(root.join("vectors/keypoints.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        bad.is_empty(),
        "vectors the Python decoder gets wrong exactly: {bad:?}"
    );
}

#[test]
fn a_version_1_consumer_rejects_version_2_by_its_version() {
    let vectors = vectors();
    let lines = run_on_vectors(python_decoder_v1(), &vectors);
    let (mut v2, mut v1) = (0, 0);
    for ((name, bytes, v), line) in vectors.iter().zip(&lines) {
        if bytes.len() < 2 || v["valid"] != true {
            continue;
        }
        match u16::from_le_bytes([bytes[0], bytes[1]]) {
            2 => {
                v2 += 1;
                assert_eq!(
                    line["error"], "unsupported schema version 2",
                    "{name}: a v1 consumer must stop at the version: {line}"
                );
            }
            1 => {
                v1 += 1;
                // It still reads version 1, as before: the same fields, without the v2 ones.
                let mut expected = v["json"].clone();
                let obj = expected.as_object_mut().unwrap();
                obj.remove("run");
                for p in obj["poses"].as_array_mut().unwrap() {
                    let p = p.as_object_mut().unwrap();
                    p.remove("track_id");
                    p.remove("world_landmarks");
                }
                assert_json_close(&expected, &line["message"], name);
            }
            other => panic!("{name}: version {other}"),
        }
    }
    assert!(v2 >= 5 && v1 >= 3, "{v2} v2 and {v1} v1 vectors");
    // Frame headers too: a version-2 frame is refused by version.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headers.txt");
    std::fs::write(&path, header_text(&frame_meta(77))).unwrap();
    let out = python_decoder_v1()
        .arg("frame-headers")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["error"], "unsupported schema version 2");
}

#[test]
fn python_decoder_rejects_malformed_keypoint_messages() {
    let dir = tempfile::tempdir().unwrap();
    let good = messages()[1].encode().unwrap();
    let mut wrong_version = good.clone();
    wrong_version[0] = 3;
    let mut trailing = good.clone();
    trailing.push(7);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("wrong_version", wrong_version),
        ("trailing", trailing),
        (
            "garbage",
            vec![1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        ),
    ];
    for (name, bytes) in cases {
        // The Rust decoder rejects each case too.
        assert!(KeypointMessage::decode(&bytes).is_err(), "{name}");
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let out = python_decoder()
            .arg("keypoints")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(line["error"].is_string(), "{name}: {line}");
    }
}

fn frame_meta(run: u64) -> FrameMeta {
    FrameMeta {
        camera_id: CameraId::new("pi-kitchen").unwrap(),
        run,
        seq: 981,
        capture_ts_us: 1_764_100_000_123_456,
        width: 320,
        height: 240,
    }
}

fn header_text(meta: &FrameMeta) -> String {
    meta.to_headers()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

#[test]
fn python_decoder_reads_frame_headers() {
    let dir = tempfile::tempdir().unwrap();
    // Version 2 (with a run) and version 1 (run 0: no run header).
    for (run, version) in [(9_007_199_254_740_991u64, 2), (0, 1)] {
        let path = dir.path().join(format!("headers{version}.txt"));
        std::fs::write(&path, header_text(&frame_meta(run))).unwrap();
        let out = python_decoder()
            .arg("frame-headers")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            line["message"],
            serde_json::json!({"schema_version": version, "camera_id": "pi-kitchen", "run": run,
                "seq": 981, "capture_ts_us": 1_764_100_000_123_456u64, "width": 320,
                "height": 240})
        );
    }
    // A version-2 frame without its run, or with run 0, is refused like the Rust decoder does.
    for (name, text) in [
        ("no_run", header_text(&frame_meta(5)).replace("run=5\n", "")),
        (
            "run_0",
            header_text(&frame_meta(5)).replace("run=5\n", "run=0\n"),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let out = python_decoder()
            .arg("frame-headers")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let headers: Vec<(String, Vec<u8>)> = text
            .lines()
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_owned(), v.as_bytes().to_vec())
            })
            .collect();
        let rust = FrameMeta::from_headers(
            headers
                .iter()
                .map(|(k, v)| (k.as_str(), Some(v.as_slice()))),
        )
        .unwrap_err();
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(line["reason"], rust.reason(), "{name}: {line}");
    }
}
