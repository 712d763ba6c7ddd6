//! Proves that `WIRE.md` suffices: the standard-library Python decoder in `shared/python` reads
//! bytes made by the Rust encoder, and rejects the malformed ones.

use std::path::Path;
use std::process::Command;

use pose_shared::frame::FrameMeta;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose};
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
        score: 0.5 + seed,
        landmarks,
    }
}

fn messages() -> Vec<KeypointMessage> {
    (0..4)
        .map(|n| KeypointMessage {
            camera_id: CameraId::new(format!("cam.{n}_x-{}", "y".repeat(n * 7))).unwrap(),
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/posestream_wire.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    cmd
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
fn python_decoder_rejects_malformed_keypoint_messages() {
    let dir = tempfile::tempdir().unwrap();
    let good = messages()[1].encode().unwrap();
    let mut wrong_version = good.clone();
    wrong_version[0] = 2;
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

#[test]
fn python_decoder_reads_frame_headers() {
    let dir = tempfile::tempdir().unwrap();
    let meta = FrameMeta {
        camera_id: CameraId::new("pi-kitchen").unwrap(),
        seq: 981,
        capture_ts_us: 1_764_100_000_123_456,
        width: 320,
        height: 240,
    };
    let text: String = meta
        .to_headers()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    let path = dir.path().join("headers.txt");
    std::fs::write(&path, text).unwrap();
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
        serde_json::json!({"schema_version": 1, "camera_id": "pi-kitchen", "seq": 981,
            "capture_ts_us": 1_764_100_000_123_456u64, "width": 320, "height": 240})
    );
}
