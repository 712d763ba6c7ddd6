//! The shared test vectors `shared/vectors/keypoints.json`: generated here from the Rust encoder
//! (`POSESTREAM_UPDATE_VECTORS=1 cargo test -p pose-shared --test vectors` rewrites the file), and
//! checked here against the Rust codec: the checked-in file must be what the encoder makes today,
//! every valid vector decodes to its `json` and re-encodes to its bytes, every invalid one gives
//! its error token; every valid vector's `json` (and every JSON view made here) satisfies the
//! JSON Schema `shared/schema/keypoints.schema.json`. The file's format is described in
//! `shared/WIRE.md`.

use std::path::PathBuf;

use pose_shared::keypoints::MAX_MESSAGE_BYTES;
use pose_shared::{CameraId, KeypointMessage, Landmark, Pose, WorldLandmark};
use serde_json::{Value, json};

const FORMAT: &str = "posestream-test-vectors/1";

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/keypoints.json")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Landmarks that differ per pose and per index, with visibilities spread over 0..1.
fn landmarks(seed: u32) -> [Landmark; 33] {
    std::array::from_fn(|i| {
        let f = i as f32;
        let k = seed as f32 * 0.031;
        Landmark {
            x: 0.2 + f * 0.017 + k,
            y: 0.85 - f * 0.019 - k,
            z: (f - 16.0) * 0.0125,
            visibility: ((f + seed as f32) * 0.37).fract(),
            presence: 1.0 - (f * 0.11).fract(),
        }
    })
}

fn world(seed: u32) -> [WorldLandmark; 33] {
    std::array::from_fn(|i| {
        let f = i as f32;
        WorldLandmark {
            x: -0.25 + f * 0.015 + seed as f32 * 0.5,
            y: -0.8 + f * 0.05,
            z: 0.12 - f * 0.004,
        }
    })
}

fn pose(track_id: u32, seed: u32, with_world: bool) -> Pose {
    Pose {
        track_id,
        score: 0.6 + seed as f32 * 0.02,
        landmarks: landmarks(seed),
        world_landmarks: with_world.then(|| world(seed)),
    }
}

fn message(camera: &str, run: u64, poses: Vec<Pose>) -> KeypointMessage {
    KeypointMessage {
        camera_id: CameraId::new(camera).expect("valid test camera id"),
        run,
        seq: 1042,
        capture_ts_us: 1_764_100_000_123_456,
        inference_us: 38_210,
        width: 640,
        height: 480,
        frame_published: true,
        poses,
    }
}

/// A run id in the range `pose-edge` draws from (below 2^53).
const RUN: u64 = 0x0011_2233_4455_6677;

struct Valid {
    name: &'static str,
    description: &'static str,
    msg: KeypointMessage,
}

fn valid() -> Vec<Valid> {
    let long_id = "L".repeat(64);
    let mut extremes = message(
        "Az09-_.",
        u64::MAX,
        vec![pose(0, 0, true), pose(u32::MAX, 1, false)],
    );
    extremes.seq = u64::MAX;
    extremes.capture_ts_us = u64::MAX;
    extremes.inference_us = u32::MAX;
    extremes.width = u32::MAX;
    extremes.height = u32::MAX;
    extremes.frame_published = false;
    let lms = &mut extremes.poses[0].landmarks;
    lms[0] = Landmark {
        x: f32::MAX,
        y: -f32::MAX,
        z: f32::MIN_POSITIVE,
        visibility: 0.0,
        presence: 1.0,
    };
    lms[1] = Landmark {
        x: -0.0,
        y: 1e-45,
        z: -1.5,
        visibility: 1.0,
        presence: 0.0,
    };
    lms[2] = Landmark {
        x: -0.25,
        y: 1.25,
        z: 3.0e10,
        visibility: 0.5,
        presence: 0.5,
    };
    if let Some(w) = extremes.poses[0].world_landmarks.as_mut() {
        w[0] = WorldLandmark {
            x: f32::MAX,
            y: -f32::MAX,
            z: -0.0,
        };
    }
    extremes.poses[1].score = 0.0;
    let mut minimal = message("c", 1, vec![]);
    minimal.seq = 0;
    minimal.capture_ts_us = 0;
    minimal.inference_us = 0;
    minimal.width = 0;
    minimal.height = 0;
    minimal.frame_published = false;
    let mut privacy = message("pi-kitchen", RUN, vec![pose(1, 3, false)]);
    privacy.frame_published = false;
    vec![
        Valid {
            name: "v2_no_pose",
            description: "version 2, nobody seen (0 poses)",
            msg: message("cam-01", RUN, vec![]),
        },
        Valid {
            name: "v2_one_pose",
            description: "version 2, one tracked person (track 1) without world landmarks: what pose-edge sends today",
            msg: message("cam-01", RUN, vec![pose(1, 0, false)]),
        },
        Valid {
            name: "v2_one_pose_world",
            description: "version 2, one person with world landmarks",
            msg: message("cam-01", RUN, vec![pose(1, 0, true)]),
        },
        Valid {
            name: "v2_several_poses",
            description: "version 2, three people, world landmarks on the first and third only, track ids 4, 2, 9",
            msg: message(
                "cam-02",
                RUN,
                vec![pose(4, 1, true), pose(2, 2, false), pose(9, 3, true)],
            ),
        },
        Valid {
            name: "v2_privacy_mode",
            description: "version 2, frame_published false (no JPEG for this frame)",
            msg: privacy,
        },
        Valid {
            name: "v2_longest_camera_id_world",
            description: "version 2, a 64-byte camera id (the longest) and one pose with world landmarks: 986 bytes, the size budget is 1024",
            msg: message(&long_id, RUN, vec![pose(1, 0, true)]),
        },
        Valid {
            name: "v2_longest_camera_id",
            description: "version 2, a 64-byte camera id and one pose without world landmarks: 590 bytes, the size budget is 600",
            msg: message(&long_id, RUN, vec![pose(1, 0, false)]),
        },
        Valid {
            name: "v2_max_poses_world",
            description: "version 2, 16 poses (the most) all with world landmarks and the longest camera id: the largest message",
            msg: message(&long_id, RUN, (1..=16).map(|i| pose(i, i, true)).collect()),
        },
        Valid {
            name: "v2_extremes",
            description: "version 2, every allowed camera id character, run/seq/capture_ts_us u64::MAX, u32::MAX counters, track ids 0 (untracked) and u32::MAX, f32::MAX, -0.0, subnormal and outside-the-image coordinates, probabilities 0, 0.5, 1",
            msg: extremes,
        },
        Valid {
            name: "v2_minimal",
            description: "version 2, one-byte camera id, run 1, seq/time/sizes 0, no pose",
            msg: minimal,
        },
        Valid {
            name: "v1_no_pose",
            description: "version 1 (no run, no track id): run 0, no pose",
            msg: message("cam-01", 0, vec![]),
        },
        Valid {
            name: "v1_one_pose",
            description: "version 1, one pose: decodes with run 0, track_id 1 (its position), world_landmarks null",
            msg: message("cam-01", 0, vec![pose(1, 0, false)]),
        },
        Valid {
            name: "v1_several_poses",
            description: "version 1, three poses: track ids 1, 2, 3 by position",
            msg: message(
                "cam-02",
                0,
                vec![pose(1, 1, false), pose(2, 2, false), pose(3, 3, false)],
            ),
        },
        Valid {
            name: "v1_longest_camera_id",
            description: "version 1, 64-byte camera id, one pose: 577 bytes",
            msg: message(&long_id, 0, vec![pose(1, 0, false)]),
        },
    ]
}

struct Invalid {
    name: &'static str,
    description: &'static str,
    bytes: Vec<u8>,
    error: &'static str,
}

fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn invalid() -> Vec<Invalid> {
    let enc = |m: &KeypointMessage| m.encode().expect("test message encodes");
    let one = enc(&message("cam-01", RUN, vec![pose(1, 0, true)]));
    let one_v1 = enc(&message("cam-01", 0, vec![pose(1, 0, false)]));
    let none = enc(&message("cam-01", RUN, vec![]));
    // Offsets in a version-2 message with the 6-byte id "cam-01" (WIRE.md).
    let (id, run, count, pose0) = (10, 16, 53, 61);
    let world0 = pose0 + 471;
    let mut out = Vec::new();
    let mut push = |name, description, bytes, error| {
        out.push(Invalid {
            name,
            description,
            bytes,
            error,
        })
    };
    push("empty", "an empty value", vec![], "empty");
    push(
        "one_byte",
        "a single byte: not even a version",
        vec![2],
        "truncated",
    );
    push(
        "v2_truncated_last_byte",
        "version 2, one pose with world landmarks, the last byte missing",
        one[..one.len() - 1].to_vec(),
        "truncated",
    );
    push(
        "v2_truncated_in_camera_id",
        "version 2, cut inside the camera id",
        one[..id + 3].to_vec(),
        "truncated",
    );
    push(
        "v2_truncated_before_world",
        "version 2, the world tag says 1 but the world landmarks are missing",
        one[..world0].to_vec(),
        "truncated",
    );
    push(
        "v1_truncated",
        "version 1, one pose, the last byte missing",
        one_v1[..one_v1.len() - 1].to_vec(),
        "truncated",
    );
    push(
        "v2_trailing_byte",
        "version 2, one byte after the last pose",
        [&one[..], &[0]].concat(),
        "trailing_bytes",
    );
    push(
        "v1_trailing_bytes",
        "version 1, two bytes after the last pose",
        [&one_v1[..], &[1, 2]].concat(),
        "trailing_bytes",
    );
    for (name, v, d) in [
        ("version_0", 0u16, "schema version 0"),
        (
            "version_3",
            3,
            "schema version 3 (unknown; a version-2 body behind it)",
        ),
        ("version_ffff", 0xFFFF, "schema version 65535"),
    ] {
        let mut b = one.clone();
        b[..2].copy_from_slice(&v.to_le_bytes());
        push(name, d, b, "unsupported_version");
    }
    let mut b = one.clone();
    put_u64(&mut b, run, 0);
    push(
        "v2_run_zero",
        "version 2 with run id 0 (only version 1 has no run)",
        b,
        "malformed",
    );
    let mut b = one.clone();
    b[world0 - 1] = 2;
    push(
        "v2_world_tag_2",
        "version 2, a world-landmark tag of 2 (only 0 and 1 exist)",
        b,
        "malformed",
    );
    let mut b = none.clone();
    b[id] = 0xC3;
    push(
        "camera_id_not_utf8",
        "a camera id byte that is not UTF-8",
        b,
        "malformed",
    );
    let mut b = none.clone();
    b[id + 3] = b'/';
    push(
        "camera_id_bad_char",
        "a camera id with '/'",
        b,
        "camera_id_bad_char",
    );
    let mut b = 2u16.to_le_bytes().to_vec();
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&none[id + 6..]);
    push(
        "camera_id_empty",
        "a camera id of length 0",
        b,
        "camera_id_empty",
    );
    let long = enc(&message(&"L".repeat(64), RUN, vec![]));
    let mut b = long[..id].to_vec();
    put_u64(&mut b, 2, 65);
    b.extend_from_slice(&long[id..id + 64]);
    b.push(b'L');
    b.extend_from_slice(&long[id + 64..]);
    push(
        "camera_id_65_bytes",
        "a camera id of 65 bytes (64 is the most)",
        b,
        "camera_id_too_long",
    );
    let mut b = none[..id].to_vec();
    put_u64(&mut b, 2, u64::MAX);
    push(
        "camera_id_length_forged",
        "a camera id length of 2^64-1 with nothing after it",
        b,
        "camera_id_too_long",
    );
    // 17 poses, each complete.
    let sixteen = enc(&message(
        "cam-01",
        RUN,
        (1..=16).map(|i| pose(i, i, false)).collect(),
    ));
    let mut b = sixteen.clone();
    put_u64(&mut b, count, 17);
    b.extend_from_slice(&sixteen[pose0..pose0 + 471]);
    push(
        "v2_17_poses",
        "version 2 with 17 complete poses (16 is the most)",
        b,
        "too_many_poses",
    );
    let mut b = none.clone();
    put_u64(&mut b, count, 1 << 40);
    push(
        "v2_pose_count_forged",
        "version 2 claiming 2^40 poses with none present",
        b,
        "too_many_poses",
    );
    let mut b = one_v1.clone();
    put_u64(&mut b, count - 8, 17);
    push(
        "v1_17_poses_claimed",
        "version 1 claiming 17 poses with one present",
        b,
        "too_many_poses",
    );
    for (name, at, value, d) in [
        (
            "v2_nan_x",
            pose0 + 8,
            f32::NAN,
            "version 2, x of landmark 0 is NaN",
        ),
        (
            "v2_infinite_score",
            pose0 + 4,
            f32::INFINITY,
            "version 2, score is +infinity",
        ),
        (
            "v2_nan_world_z",
            world0 + 8 + 12 * 32,
            f32::NAN,
            "version 2, z of world landmark 32 is NaN",
        ),
        (
            "v2_negative_infinite_y",
            pose0 + 8 + 14 * 20 + 4,
            f32::NEG_INFINITY,
            "version 2, y of landmark 20 is -infinity",
        ),
        (
            "v1_nan_z",
            53 + 4 + 14 * 5 + 8,
            f32::NAN,
            "version 1, z of landmark 5 is NaN",
        ),
    ] {
        let mut b = if name.starts_with("v1") {
            one_v1.clone()
        } else {
            one.clone()
        };
        b[at..at + 4].copy_from_slice(&value.to_le_bytes());
        push(name, d, b, "non_finite");
    }
    let mut b = one.clone();
    b.resize(MAX_MESSAGE_BYTES + 1, 0);
    push(
        "too_large",
        "16385 bytes: over the 16 KiB limit (a valid message padded with zeros)",
        b,
        "too_large",
    );
    out
}

/// The whole vectors file, one vector per line.
fn generate() -> String {
    let mut lines = Vec::new();
    for v in valid() {
        let bytes = v.msg.encode().expect("valid vector encodes");
        let decoded = KeypointMessage::decode(&bytes).expect("valid vector decodes");
        lines.push(json!({
            "name": v.name,
            "description": v.description,
            "schema_version": v.msg.schema_version(),
            "valid": true,
            "hex": hex(&bytes),
            "json": decoded.to_json(),
        }));
    }
    for v in invalid() {
        lines.push(json!({
            "name": v.name,
            "description": v.description,
            "valid": false,
            "hex": hex(&v.bytes),
            "error": v.error,
        }));
    }
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    format!(
        "{{\"format\": \"{FORMAT}\", \"vectors\": [\n{}\n]}}\n",
        body.join(",\n")
    )
}

/// JSON equality where floats are compared as the `f32` they stand for: serde_json's default
/// float parser may land one double-ulp off the written decimal, never one `f32` ulp.
fn same_json(a: &Value, b: &Value, path: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if x as f32 == y as f32
                && (x as f32).is_sign_negative() == (y as f32).is_sign_negative()
            {
                Ok(())
            } else {
                Err(format!("{path}: {x} != {y}"))
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (p, q))| same_json(p, q, &format!("{path}[{i}]"))),
        (Value::Object(x), Value::Object(y))
            if x.keys().collect::<Vec<_>>() == y.keys().collect::<Vec<_>>() =>
        {
            x.iter()
                .try_for_each(|(k, p)| same_json(p, &y[k], &format!("{path}.{k}")))
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{path}: {a} != {b}")),
    }
}

fn load() -> Value {
    let text =
        std::fs::read_to_string(vectors_path()).expect("shared/vectors/keypoints.json exists");
    serde_json::from_str(&text).expect("the vectors file is JSON")
}

#[test]
fn the_checked_in_file_is_what_the_encoder_makes() {
    let fresh = generate();
    if std::env::var_os("POSESTREAM_UPDATE_VECTORS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(vectors_path().parent().unwrap()).unwrap();
        std::fs::write(vectors_path(), &fresh).unwrap();
    }
    let on_disk = std::fs::read_to_string(vectors_path()).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "shared/vectors/keypoints.json is stale: run POSESTREAM_UPDATE_VECTORS=1 cargo test -p pose-shared --test vectors"
    );
}

#[test]
fn every_vector_holds_against_the_rust_codec() {
    let file = load();
    assert_eq!(file["format"], FORMAT);
    let vectors = file["vectors"].as_array().expect("a vectors array");
    let mut names = std::collections::HashSet::new();
    let mut reasons = std::collections::BTreeSet::new();
    let (mut v1, mut v2) = (0, 0);
    for v in vectors {
        let name = v["name"].as_str().expect("a name");
        assert!(names.insert(name), "{name}: duplicate name");
        assert!(
            v["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        let bytes = unhex(v["hex"].as_str().expect("hex"));
        assert_eq!(hex(&bytes), v["hex"], "{name}: lowercase hex");
        if v["valid"] == true {
            let msg = KeypointMessage::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Err(e) = same_json(&msg.to_json(), &v["json"], "json") {
                panic!("{name}: the JSON view differs: {e}");
            }
            assert_eq!(v["schema_version"], v["json"]["schema_version"], "{name}");
            assert_eq!(
                u16::from_le_bytes([bytes[0], bytes[1]]),
                msg.schema_version(),
                "{name}"
            );
            match msg.schema_version() {
                1 => v1 += 1,
                _ => v2 += 1,
            }
            assert_eq!(
                msg.encode().unwrap(),
                bytes,
                "{name}: re-encoding gives the bytes back"
            );
            // The JSON view reads back into the same message.
            let back: KeypointMessage = serde_json::from_value(v["json"].clone()).unwrap();
            assert_eq!(back, msg, "{name}");
        } else {
            assert_eq!(v["valid"], false, "{name}");
            let err = KeypointMessage::decode(&bytes)
                .err()
                .unwrap_or_else(|| panic!("{name}: decoded but should not"));
            assert_eq!(err.reason(), v["error"], "{name}: {err}");
            reasons.insert(err.reason());
        }
    }
    assert!(
        v1 >= 3 && v2 >= 5,
        "both versions covered: {v1} v1, {v2} v2"
    );
    let all = [
        "empty",
        "truncated",
        "too_large",
        "unsupported_version",
        "malformed",
        "trailing_bytes",
        "too_many_poses",
        "non_finite",
        "camera_id_empty",
        "camera_id_too_long",
        "camera_id_bad_char",
    ];
    for r in all {
        assert!(reasons.contains(r), "no invalid vector for {r}");
    }
}

/// Changes a valid JSON view into one the schema must refuse.
type Breaker = Box<dyn Fn(&mut Value)>;

fn schema() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(pose_shared::schema::KEYPOINTS_SCHEMA_JSON)
        .expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema is a valid draft 2020-12 schema")
}

#[test]
fn every_json_view_satisfies_the_schema_and_the_schema_has_teeth() {
    let validator = schema();
    let file = load();
    let mut checked = 0;
    for v in file["vectors"].as_array().unwrap() {
        if v["valid"] == true {
            let errors: Vec<String> = validator
                .iter_errors(&v["json"])
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", v["name"]);
            checked += 1;
        }
    }
    assert!(checked >= 10);
    // The checked-in file is the one the crate serves.
    let on_disk = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/keypoints.schema.json"),
    )
    .unwrap();
    assert_eq!(on_disk, pose_shared::schema::KEYPOINTS_SCHEMA_JSON);
    // Views that break the rules are refused.
    let good = message("cam-01", RUN, vec![pose(1, 0, true)]).to_json();
    assert!(validator.is_valid(&good));
    let v1 = message("cam-01", 0, vec![pose(1, 0, false)]).to_json();
    assert!(validator.is_valid(&v1));
    let broken: Vec<(&str, Breaker)> = vec![
        ("v2 with run 0", Box::new(|v| v["run"] = json!(0))),
        (
            "v1 with a run",
            Box::new(|v| {
                v["schema_version"] = json!(1);
                v["run"] = json!(5);
            }),
        ),
        (
            "v1 with world landmarks",
            Box::new(|v| v["schema_version"] = json!(1)),
        ),
        ("version 3", Box::new(|v| v["schema_version"] = json!(3))),
        ("bad camera id", Box::new(|v| v["camera_id"] = json!("a/b"))),
        ("negative seq", Box::new(|v| v["seq"] = json!(-1))),
        (
            "missing track id",
            Box::new(|v| {
                v["poses"][0].as_object_mut().unwrap().remove("track_id");
            }),
        ),
        (
            "32 landmarks",
            Box::new(|v| {
                v["poses"][0]["landmarks"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a landmark of 4 numbers",
            Box::new(|v| {
                v["poses"][0]["landmarks"][3].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "visibility above 1",
            Box::new(|v| v["poses"][0]["landmarks"][3][3] = json!(1.5)),
        ),
        (
            "a world landmark of 4 numbers",
            Box::new(|v| {
                v["poses"][0]["world_landmarks"][0]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(0.0));
            }),
        ),
        ("an unknown field", Box::new(|v| v["extra"] = json!(true))),
        (
            "17 poses",
            Box::new(|v| {
                let p = v["poses"][0].clone();
                v["poses"] = Value::Array(vec![p; 17]);
            }),
        ),
    ];
    for (what, breaks) in broken {
        let mut v = good.clone();
        breaks(&mut v);
        assert!(!validator.is_valid(&v), "the schema accepts {what}");
    }
}
