//! The keypoint message: the poses found in one inferred frame of one camera, and its codec.
//!
//! The byte layout is fixed and documented in `shared/WIRE.md`: a little-endian `u16` schema
//! version, then the message body encoded by bincode 2 through serde with [`bincode_config`]
//! (little-endian, fixed-width integers, no varints). Versions 1 and 2 decode into the same
//! [`KeypointMessage`] (a version-1 message has `run` 0, track ids from the pose's position and no
//! world landmarks); [`KeypointMessage::encode`] writes version 2, or version 1 for a message with
//! `run` 0. Decoding never panics: every malformed input gives a [`DecodeError`].

use std::borrow::Cow;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::camera::{CameraId, CameraIdError};
use crate::skeleton::NUM_LANDMARKS;

/// Most poses one message may carry (the estimator tracks one person; room for multi-person).
pub const MAX_POSES: usize = 16;
/// Largest encoded keypoint message, in bytes (header + [`MAX_POSES`] poses fit well below it).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The version this crate writes (the run identity, track ids and world landmarks).
pub const SCHEMA_VERSION_V2: u16 = 2;
/// The version written by edges before the run identity; still decoded.
pub const SCHEMA_VERSION_V1: u16 = 1;

/// Bit 0 of the wire `flags` byte: a JPEG with the same camera id and sequence was published to
/// the frames topic. Other bits are reserved: written as 0, ignored when read.
const FLAG_FRAME_PUBLISHED: u8 = 0b0000_0001;

/// The bincode 2 configuration of the message body: little-endian, fixed-width integers (a `u64`
/// is always 8 bytes, a length prefix is a `u64`), and a read limit so that a forged length
/// cannot make the decoder allocate more than [`MAX_MESSAGE_BYTES`].
pub fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<MAX_MESSAGE_BYTES>()
}

/// One landmark. `x` and `y` are normalized to the source image (0..1 inside it, may fall
/// slightly outside); `z` is depth relative to the hips on roughly the scale of `x` (smaller is
/// closer); `visibility` and `presence` are probabilities in 0..1 (carried with 1/255 precision).
///
/// In JSON a landmark is the array `[x, y, z, visibility, presence]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Landmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
    pub presence: f32,
}

/// One world landmark: the model's 3D estimate in metres, origin at the midpoint of the hips,
/// `x` to the image's right, `y` down, `z` away from the camera. In JSON the array `[x, y, z]`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WorldLandmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

/// One person: a track id, a confidence score in 0..1, the 33 BlazePose landmarks indexed like
/// [`crate::skeleton::LANDMARK_NAMES`], and optionally the same 33 as world landmarks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// The same person across the messages of one `(camera_id, run)` has the same id; 0 means
    /// "not tracked". A version-1 message gets the pose's position from 1.
    pub track_id: u32,
    pub score: f32,
    #[serde(with = "landmarks_json")]
    pub landmarks: [Landmark; NUM_LANDMARKS],
    /// The model's world landmarks (metres, hip-centred), when the edge sends them.
    #[serde(with = "world_json")]
    pub world_landmarks: Option<[WorldLandmark; NUM_LANDMARKS]>,
}

/// One inferred frame of one camera. Its JSON form (see [`KeypointMessage::to_json`]) is the
/// human and HTTP view of the same data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeypointMessage {
    /// The camera, also the Kafka key.
    pub camera_id: CameraId,
    /// The edge process's random run id (nonzero), so that `(camera_id, run, seq)` is unique
    /// across edge restarts. 0: no run identity, a version-1 message (and `encode` writes
    /// version 1).
    pub run: u64,
    /// Frame sequence number from the camera source, increasing by 1 per captured frame since the
    /// edge process started (gaps mean frames that were captured but not inferred).
    pub seq: u64,
    /// When the frame was captured, in µs since the Unix epoch on the edge's clock.
    pub capture_ts_us: u64,
    /// Wall time spent on pose estimation for this frame, in µs.
    pub inference_us: u32,
    /// Source image width in pixels (the frame the landmarks are normalized to).
    pub width: u32,
    /// Source image height in pixels.
    pub height: u32,
    /// Whether a JPEG of this frame (same camera id and seq) was published to the frames topic.
    /// False in privacy mode and for frames skipped by the JPEG rate limit.
    pub frame_published: bool,
    /// The poses found; empty when nobody was seen.
    pub poses: Vec<Pose>,
}

/// Why a keypoint message could not be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("{0} poses in one message; at most {MAX_POSES} are allowed")]
    TooManyPoses(usize),
    #[error("pose {pose}: {field} is not a finite number")]
    NonFinite { pose: usize, field: &'static str },
    #[error("bincode encoding failed: {0}")]
    Bincode(String),
    /// A message with `run` 0 is written as version 1, which cannot carry this.
    #[error("a message without run id is written as version 1, which cannot carry {0}")]
    NotV1(&'static str),
}

/// Why bytes could not be decoded as a keypoint message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("message truncated: {0} bytes are too few")]
    Truncated(usize),
    #[error("message is {0} bytes; at most {MAX_MESSAGE_BYTES} are allowed")]
    TooLarge(usize),
    #[error("unsupported schema version {found} (this decoder reads versions 1 to {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("{0} bytes left over after the message")]
    TrailingBytes(usize),
    #[error("invalid camera id: {0}")]
    CameraId(#[from] CameraIdError),
    #[error("{0} poses in one message; at most {MAX_POSES} are allowed")]
    TooManyPoses(usize),
    #[error("pose {pose}: {field} is not a finite number")]
    NonFinite { pose: usize, field: &'static str },
}

impl DecodeError {
    /// A short stable name of the error, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Truncated(_) => "truncated",
            Self::TooLarge(_) => "too_large",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::Malformed(_) => "malformed",
            Self::TrailingBytes(_) => "trailing_bytes",
            Self::CameraId(e) => e.reason(),
            Self::TooManyPoses(_) => "too_many_poses",
            Self::NonFinite { .. } => "non_finite",
        }
    }
}

impl KeypointMessage {
    /// Encodes the message in the wire format of `WIRE.md`.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64 + self.poses.len() * 470);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// The schema version this message is written as: 2, or 1 when it has no run id.
    pub fn schema_version(&self) -> u16 {
        if self.run == 0 {
            SCHEMA_VERSION_V1
        } else {
            SCHEMA_VERSION_V2
        }
    }

    /// Appends the encoded message to `out` (lets a caller reuse one buffer).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.poses.len() > MAX_POSES {
            return Err(EncodeError::TooManyPoses(self.poses.len()));
        }
        for (i, pose) in self.poses.iter().enumerate() {
            check_finite(pose).map_err(|field| EncodeError::NonFinite { pose: i, field })?;
        }
        let flags = if self.frame_published {
            FLAG_FRAME_PUBLISHED
        } else {
            0
        };
        let camera_id = Cow::Borrowed(self.camera_id.as_str());
        let version = self.schema_version();
        out.extend_from_slice(&version.to_le_bytes());
        let written = if version == SCHEMA_VERSION_V1 {
            for (i, pose) in self.poses.iter().enumerate() {
                if pose.world_landmarks.is_some() {
                    return Err(EncodeError::NotV1("world landmarks"));
                }
                if u32::try_from(i + 1) != Ok(pose.track_id) {
                    return Err(EncodeError::NotV1(
                        "a track id other than the pose's position",
                    ));
                }
            }
            let wire = WireMessageV1 {
                camera_id,
                seq: self.seq,
                capture_ts_us: self.capture_ts_us,
                inference_us: self.inference_us,
                width: self.width,
                height: self.height,
                flags,
                poses: self.poses.iter().map(WirePoseV1::from_pose).collect(),
            };
            bincode::serde::encode_into_std_write(&wire, out, bincode_config())
        } else {
            let wire = WireMessageV2 {
                camera_id,
                run: self.run,
                seq: self.seq,
                capture_ts_us: self.capture_ts_us,
                inference_us: self.inference_us,
                width: self.width,
                height: self.height,
                flags,
                poses: self.poses.iter().map(WirePoseV2::from_pose).collect(),
            };
            bincode::serde::encode_into_std_write(&wire, out, bincode_config())
        };
        written.map_err(|e| EncodeError::Bincode(e.to_string()))?;
        Ok(())
    }

    /// Decodes a message of version 1 or 2; never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.len() {
            0 => return Err(DecodeError::Empty),
            1 => return Err(DecodeError::Truncated(1)),
            n if n > MAX_MESSAGE_BYTES => return Err(DecodeError::TooLarge(n)),
            _ => {}
        }
        let version = u16::from_le_bytes([bytes[0], bytes[1]]);
        let body = &bytes[2..];
        if matches!(version, SCHEMA_VERSION_V1 | SCHEMA_VERSION_V2) {
            check_lengths(version, body)?;
        }
        match version {
            SCHEMA_VERSION_V1 => decode_body::<WireMessageV1>(body)?.into_message(),
            SCHEMA_VERSION_V2 => decode_body::<WireMessageV2>(body)?.into_message(),
            found => Err(DecodeError::UnsupportedVersion {
                found,
                supported: SCHEMA_VERSION_V2,
            }),
        }
    }

    /// The JSON view: the message's fields plus `schema_version`, landmarks as
    /// `[x, y, z, visibility, presence]` arrays, world landmarks as `[x, y, z]` arrays or null.
    /// Its JSON Schema is `shared/schema/keypoints.schema.json`.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct View<'a> {
            schema_version: u16,
            #[serde(flatten)]
            msg: &'a KeypointMessage,
        }
        serde_json::to_value(View {
            schema_version: self.schema_version(),
            msg: self,
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// Checks the two counts of a body as soon as they are there, before anything is read past them,
/// so that a forged count is named for what it is (a camera id over 64 bytes, more than
/// [`MAX_POSES`] poses) whether or not the bytes it claims follow.
fn check_lengths(version: u16, body: &[u8]) -> Result<(), DecodeError> {
    let u64_at = |at: usize| -> Option<u64> {
        let raw = body.get(at..at.checked_add(8)?)?;
        Some(u64::from_le_bytes(raw.try_into().ok()?))
    };
    let Some(id_len) = u64_at(0) else {
        return Ok(());
    };
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if id_len > crate::camera::MAX_CAMERA_ID_LEN as u64 {
        return Err(DecodeError::CameraId(CameraIdError::TooLong(as_usize(
            id_len,
        ))));
    }
    // After the id: (run), seq, capture_ts_us (8 each), three u32, the flags byte.
    let fixed = if version == SCHEMA_VERSION_V1 { 29 } else { 37 };
    match u64_at(8 + id_len as usize + fixed) {
        Some(n) if n > MAX_POSES as u64 => Err(DecodeError::TooManyPoses(as_usize(n))),
        _ => Ok(()),
    }
}

/// Decodes a body with bincode, mapping its errors to ours; the whole body must be used.
fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let total = body.len() + 2;
    let (wire, used): (T, usize) = bincode::serde::decode_from_slice(body, bincode_config())
        .map_err(|e| match e {
            bincode::error::DecodeError::UnexpectedEnd { .. } => DecodeError::Truncated(total),
            bincode::error::DecodeError::LimitExceeded => DecodeError::TooLarge(total),
            other => DecodeError::Malformed(other.to_string()),
        })?;
    if used != body.len() {
        return Err(DecodeError::TrailingBytes(body.len() - used));
    }
    Ok(wire)
}

fn check_finite(pose: &Pose) -> Result<(), &'static str> {
    if !pose.score.is_finite() {
        return Err("score");
    }
    if let Some(world) = &pose.world_landmarks {
        for w in world {
            if !(w.x.is_finite() && w.y.is_finite() && w.z.is_finite()) {
                return Err("world_landmarks");
            }
        }
    }
    for lm in &pose.landmarks {
        for (v, name) in [
            (lm.x, "x"),
            (lm.y, "y"),
            (lm.z, "z"),
            (lm.visibility, "visibility"),
            (lm.presence, "presence"),
        ] {
            if !v.is_finite() {
                return Err(name);
            }
        }
    }
    Ok(())
}

/// A probability in 0..1 as a byte: round(p · 255), clamped.
fn quantize_unit(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn dequantize_unit(q: u8) -> f32 {
    f32::from(q) / 255.0
}

// ----- wire structs: exactly the layouts of WIRE.md, field order is the byte order -----

#[derive(Serialize, Deserialize)]
struct WireMessageV2<'a> {
    camera_id: Cow<'a, str>,
    run: u64,
    seq: u64,
    capture_ts_us: u64,
    inference_us: u32,
    width: u32,
    height: u32,
    flags: u8,
    poses: Vec<WirePoseV2>,
}

#[derive(Serialize, Deserialize)]
struct WirePoseV2 {
    track_id: u32,
    score: f32,
    #[serde(with = "tuple33")]
    landmarks: [WireLandmark; NUM_LANDMARKS],
    world: Option<WireWorld>,
}

/// The 33 world landmarks; bincode writes a newtype as its content.
#[derive(Serialize, Deserialize)]
struct WireWorld(#[serde(with = "tuple33")] [[f32; 3]; NUM_LANDMARKS]);

#[derive(Serialize, Deserialize)]
struct WireMessageV1<'a> {
    camera_id: Cow<'a, str>,
    seq: u64,
    capture_ts_us: u64,
    inference_us: u32,
    width: u32,
    height: u32,
    flags: u8,
    poses: Vec<WirePoseV1>,
}

#[derive(Serialize, Deserialize)]
struct WirePoseV1 {
    score: f32,
    #[serde(with = "tuple33")]
    landmarks: [WireLandmark; NUM_LANDMARKS],
}

#[derive(Serialize, Deserialize, Clone, Copy, Default)]
struct WireLandmark {
    x: f32,
    y: f32,
    z: f32,
    visibility: u8,
    presence: u8,
}

impl WireLandmark {
    fn from_landmark(lm: &Landmark) -> Self {
        Self {
            x: lm.x,
            y: lm.y,
            z: lm.z,
            visibility: quantize_unit(lm.visibility),
            presence: quantize_unit(lm.presence),
        }
    }

    fn to_landmark(self) -> Landmark {
        Landmark {
            x: self.x,
            y: self.y,
            z: self.z,
            visibility: dequantize_unit(self.visibility),
            presence: dequantize_unit(self.presence),
        }
    }
}

impl WirePoseV2 {
    fn from_pose(pose: &Pose) -> Self {
        Self {
            track_id: pose.track_id,
            score: pose.score,
            landmarks: pose.landmarks.map(|lm| WireLandmark::from_landmark(&lm)),
            world: pose
                .world_landmarks
                .map(|w| WireWorld(w.map(|p| [p.x, p.y, p.z]))),
        }
    }
}

impl WirePoseV1 {
    fn from_pose(pose: &Pose) -> Self {
        Self {
            score: pose.score,
            landmarks: pose.landmarks.map(|lm| WireLandmark::from_landmark(&lm)),
        }
    }
}

/// The checks both versions share once the bytes are parsed: camera id, pose count, finite values.
fn finish(
    camera_id: Cow<'_, str>,
    poses: Vec<Pose>,
    fill: impl FnOnce(CameraId, Vec<Pose>) -> KeypointMessage,
) -> Result<KeypointMessage, DecodeError> {
    let camera_id = CameraId::new(camera_id.into_owned())?;
    if poses.len() > MAX_POSES {
        return Err(DecodeError::TooManyPoses(poses.len()));
    }
    for (i, pose) in poses.iter().enumerate() {
        check_finite(pose).map_err(|field| DecodeError::NonFinite { pose: i, field })?;
    }
    Ok(fill(camera_id, poses))
}

impl WireMessageV2<'_> {
    fn into_message(self) -> Result<KeypointMessage, DecodeError> {
        if self.run == 0 {
            return Err(DecodeError::Malformed(
                "run id 0 in a version-2 message".to_owned(),
            ));
        }
        let poses = self
            .poses
            .into_iter()
            .map(|p| Pose {
                track_id: p.track_id,
                score: p.score,
                landmarks: p.landmarks.map(WireLandmark::to_landmark),
                world_landmarks: p
                    .world
                    .map(|w| w.0.map(|[x, y, z]| WorldLandmark { x, y, z })),
            })
            .collect();
        let flags = self.flags;
        finish(self.camera_id, poses, |camera_id, poses| KeypointMessage {
            camera_id,
            run: self.run,
            seq: self.seq,
            capture_ts_us: self.capture_ts_us,
            inference_us: self.inference_us,
            width: self.width,
            height: self.height,
            frame_published: flags & FLAG_FRAME_PUBLISHED != 0,
            poses,
        })
    }
}

impl WireMessageV1<'_> {
    fn into_message(self) -> Result<KeypointMessage, DecodeError> {
        let poses = self
            .poses
            .into_iter()
            .zip(1u32..)
            .map(|(p, track_id)| Pose {
                track_id,
                score: p.score,
                landmarks: p.landmarks.map(WireLandmark::to_landmark),
                world_landmarks: None,
            })
            .collect();
        let flags = self.flags;
        finish(self.camera_id, poses, |camera_id, poses| KeypointMessage {
            camera_id,
            run: 0,
            seq: self.seq,
            capture_ts_us: self.capture_ts_us,
            inference_us: self.inference_us,
            width: self.width,
            height: self.height,
            frame_published: flags & FLAG_FRAME_PUBLISHED != 0,
            poses,
        })
    }
}

/// A fixed array of 33 as a serde tuple: bincode writes the elements back to back, with no
/// length prefix.
mod tuple33 {
    use super::*;
    use serde::ser::SerializeTuple;

    pub fn serialize<S: Serializer, T: Serialize>(
        arr: &[T; NUM_LANDMARKS],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(NUM_LANDMARKS)?;
        for item in arr {
            t.serialize_element(item)?;
        }
        t.end()
    }

    pub fn deserialize<'de, D, T>(d: D) -> Result<[T; NUM_LANDMARKS], D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + Copy + Default,
    {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Copy + Default> Visitor<'de> for V<T> {
            type Value = [T; NUM_LANDMARKS];
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "{NUM_LANDMARKS} landmarks")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [T::default(); NUM_LANDMARKS];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(NUM_LANDMARKS, V(std::marker::PhantomData))
    }
}

/// JSON form of the 33 landmarks: an array of `[x, y, z, visibility, presence]` arrays.
mod landmarks_json {
    use super::*;

    pub fn serialize<S: Serializer>(
        lms: &[Landmark; NUM_LANDMARKS],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(NUM_LANDMARKS))?;
        for lm in lms {
            seq.serialize_element(&[lm.x, lm.y, lm.z, lm.visibility, lm.presence])?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[Landmark; NUM_LANDMARKS], D::Error> {
        let rows: Vec<[f32; 5]> = Vec::deserialize(d)?;
        let n = rows.len();
        let lms: Vec<Landmark> = rows
            .into_iter()
            .map(|[x, y, z, visibility, presence]| Landmark {
                x,
                y,
                z,
                visibility,
                presence,
            })
            .collect();
        lms.try_into()
            .map_err(|_| de::Error::invalid_length(n, &"33 landmarks"))
    }
}

/// JSON form of the optional world landmarks: null or an array of 33 `[x, y, z]` arrays.
mod world_json {
    use super::*;

    pub fn serialize<S: Serializer>(
        world: &Option<[WorldLandmark; NUM_LANDMARKS]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match world {
            None => s.serialize_none(),
            Some(lms) => {
                let mut seq = s.serialize_seq(Some(NUM_LANDMARKS))?;
                for w in lms {
                    seq.serialize_element(&[w.x, w.y, w.z])?;
                }
                seq.end()
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[WorldLandmark; NUM_LANDMARKS]>, D::Error> {
        let Some(rows) = Option::<Vec<[f32; 3]>>::deserialize(d)? else {
            return Ok(None);
        };
        let n = rows.len();
        let lms: Vec<WorldLandmark> = rows
            .into_iter()
            .map(|[x, y, z]| WorldLandmark { x, y, z })
            .collect();
        lms.try_into()
            .map(Some)
            .map_err(|_| de::Error::invalid_length(n, &"33 world landmarks"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SCHEMA_VERSION;

    fn sample_pose(k: f32) -> Pose {
        let mut landmarks = [Landmark::default(); NUM_LANDMARKS];
        for (i, lm) in landmarks.iter_mut().enumerate() {
            let f = i as f32;
            *lm = Landmark {
                x: 0.1 + f * 0.02 + k,
                y: 0.9 - f * 0.02,
                z: -0.3 + f * 0.01,
                visibility: (f / 32.0).min(1.0),
                presence: 1.0 - f / 64.0,
            };
        }
        Pose {
            track_id: 1,
            score: 0.93,
            landmarks,
            world_landmarks: None,
        }
    }

    fn world(k: f32) -> [WorldLandmark; NUM_LANDMARKS] {
        std::array::from_fn(|i| WorldLandmark {
            x: -0.4 + i as f32 * 0.025 + k,
            y: -0.7 + i as f32 * 0.04,
            z: 0.1 - i as f32 * 0.003,
        })
    }

    fn sample(poses: usize) -> KeypointMessage {
        KeypointMessage {
            camera_id: CameraId::new("cam-01").unwrap(),
            run: 0x000A_BCDE_F012_3457,
            seq: 123_456,
            capture_ts_us: 1_764_000_000_123_456,
            inference_us: 41_250,
            width: 640,
            height: 480,
            frame_published: true,
            poses: (0..poses)
                .map(|i| Pose {
                    track_id: 7 + i as u32,
                    world_landmarks: (i % 2 == 1).then(|| world(i as f32 * 0.01)),
                    ..sample_pose(i as f32 * 0.01)
                })
                .collect(),
        }
    }

    /// The same message as a version-1 edge would send it: no run, track ids by position, no
    /// world landmarks.
    fn sample_v1(poses: usize) -> KeypointMessage {
        let mut m = sample(poses);
        m.run = 0;
        for (i, p) in m.poses.iter_mut().enumerate() {
            p.track_id = i as u32 + 1;
            p.world_landmarks = None;
        }
        m
    }

    fn assert_close(a: &KeypointMessage, b: &KeypointMessage) {
        assert_eq!(a.camera_id, b.camera_id);
        assert_eq!(a.run, b.run);
        assert_eq!(
            (
                a.seq,
                a.capture_ts_us,
                a.inference_us,
                a.width,
                a.height,
                a.frame_published
            ),
            (
                b.seq,
                b.capture_ts_us,
                b.inference_us,
                b.width,
                b.height,
                b.frame_published
            )
        );
        assert_eq!(a.poses.len(), b.poses.len());
        for (p, q) in a.poses.iter().zip(&b.poses) {
            assert_eq!(p.score, q.score);
            assert_eq!(p.track_id, q.track_id);
            assert_eq!(
                p.world_landmarks, q.world_landmarks,
                "world landmarks are exact"
            );
            for (l, m) in p.landmarks.iter().zip(&q.landmarks) {
                assert_eq!((l.x, l.y, l.z), (m.x, m.y, m.z), "coordinates are exact");
                assert!((l.visibility - m.visibility).abs() <= 0.5 / 255.0 + 1e-6);
                assert!((l.presence - m.presence).abs() <= 0.5 / 255.0 + 1e-6);
            }
        }
    }

    #[test]
    fn round_trip_zero_one_and_many_poses() {
        for (n, msg) in [0, 1, 3, MAX_POSES]
            .into_iter()
            .flat_map(|n| [(n, sample(n)), (n, sample_v1(n))])
        {
            let version = if msg.run == 0 { 1 } else { 2 };
            assert_eq!(msg.schema_version(), version, "{n} poses");
            let bytes = msg.encode().unwrap();
            assert_eq!(bytes[..2], version.to_le_bytes());
            let back = KeypointMessage::decode(&bytes).unwrap();
            assert_close(&msg, &back);
            // Decoding is idempotent: a decoded message re-encodes to the same bytes.
            assert_eq!(back.encode().unwrap(), bytes);
        }
    }

    #[test]
    fn v1_sizes_are_as_documented() {
        let mut msg = sample_v1(1);
        msg.camera_id = CameraId::new("x".repeat(64)).unwrap();
        // Exact size, as documented in WIRE.md: 2 + 45 + id + 466 per pose.
        assert_eq!(msg.encode().unwrap().len(), 2 + 45 + 64 + 466);
        assert_eq!(sample_v1(0).encode().unwrap().len(), 2 + 45 + 6);
    }

    #[test]
    fn v2_sizes_fit_the_budget() {
        // WIRE.md: 55 + L + 471 per pose, + 396 with world landmarks.
        let with_id = |id: &str, poses: usize, world_on: bool| {
            let mut msg = sample(poses);
            msg.camera_id = CameraId::new(id).unwrap();
            for p in &mut msg.poses {
                p.world_landmarks = world_on.then(|| world(0.0));
            }
            msg.encode().unwrap().len()
        };
        let long = "x".repeat(64);
        assert_eq!(with_id("cam-01", 0, false), 61);
        assert_eq!(with_id(&long, 0, false), 119);
        assert_eq!(with_id("cam-01", 1, false), 532);
        assert_eq!(with_id(&long, 1, false), 590);
        assert_eq!(with_id("cam-01", 1, true), 928);
        assert_eq!(with_id(&long, 1, true), 986);
        assert_eq!(with_id("cam-01", MAX_POSES, true), 13_933);
        assert_eq!(with_id(&long, MAX_POSES, true), 13_991);
        // The budget of the issue: one pose <= 600 B without world landmarks, <= 1 KB with.
        assert!(with_id(&long, 1, false) <= 600);
        assert!(with_id(&long, 1, true) <= 1024);
        assert!(with_id(&long, MAX_POSES, true) <= MAX_MESSAGE_BYTES);
    }

    #[test]
    fn layout_starts_as_documented() {
        let bytes = sample(0).encode().unwrap();
        assert_eq!(&bytes[0..2], &2u16.to_le_bytes());
        assert_eq!(&bytes[2..10], &6u64.to_le_bytes(), "camera id length");
        assert_eq!(&bytes[10..16], b"cam-01");
        assert_eq!(
            &bytes[16..24],
            &0x000A_BCDE_F012_3457u64.to_le_bytes(),
            "run"
        );
        assert_eq!(&bytes[24..32], &123_456u64.to_le_bytes());
        // The pose: track id, score, landmarks, world tag (then world landmarks).
        let bytes = sample(2).encode().unwrap();
        let p0 = 55 + 6;
        assert_eq!(&bytes[p0..p0 + 4], &7u32.to_le_bytes(), "track id");
        assert_eq!(&bytes[p0 + 4..p0 + 8], &0.93f32.to_le_bytes(), "score");
        assert_eq!(bytes[p0 + 470], 0, "pose 0 has no world landmarks");
        let p1 = p0 + 471;
        assert_eq!(&bytes[p1..p1 + 4], &8u32.to_le_bytes());
        assert_eq!(bytes[p1 + 470], 1, "pose 1 has world landmarks");
        assert_eq!(&bytes[p1 + 471..p1 + 475], &world(0.01)[0].x.to_le_bytes());
        assert_eq!(bytes.len(), p1 + 471 + 396);
        // Version 1: no run.
        let bytes = sample_v1(0).encode().unwrap();
        assert_eq!(&bytes[0..2], &1u16.to_le_bytes());
        assert_eq!(&bytes[16..24], &123_456u64.to_le_bytes());
    }

    #[test]
    fn v1_decodes_into_the_same_type() {
        let v1 = sample_v1(3).encode().unwrap();
        let m = KeypointMessage::decode(&v1).unwrap();
        assert_eq!(m.run, 0);
        assert_eq!(
            m.poses.iter().map(|p| p.track_id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(m.poses.iter().all(|p| p.world_landmarks.is_none()));
        assert_eq!(m.to_json()["schema_version"], 1);
        assert_eq!(m.to_json()["run"], 0);
        // What version 1 cannot carry is refused, not dropped.
        let mut m = sample_v1(2);
        m.poses[1].track_id = 9;
        assert!(matches!(m.encode(), Err(EncodeError::NotV1(_))));
        let mut m = sample_v1(2);
        m.poses[0].world_landmarks = Some(world(0.0));
        assert!(matches!(m.encode(), Err(EncodeError::NotV1(_))));
    }

    #[test]
    fn v2_rejects_run_0_and_bad_world_tags() {
        let mut bytes = sample(2).encode().unwrap();
        let run = 16;
        bytes[run..run + 8].copy_from_slice(&0u64.to_le_bytes());
        assert!(matches!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        let mut bytes = sample(1).encode().unwrap();
        let tag = 55 + 6 + 470;
        bytes[tag] = 2;
        let err = KeypointMessage::decode(&bytes).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{err}");
        // A NaN world coordinate.
        let mut bytes = sample(2).encode().unwrap();
        let w = 55 + 6 + 471 + 471 + 4 * 3 * 5 + 4;
        bytes[w..w + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::NonFinite {
                pose: 1,
                field: "world_landmarks"
            })
        );
    }

    #[test]
    fn quantization_clamps_probabilities() {
        assert_eq!(quantize_unit(-1.0), 0);
        assert_eq!(quantize_unit(2.0), 255);
        assert_eq!(quantize_unit(0.5), 128);
        assert_eq!(dequantize_unit(255), 1.0);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample(2).encode().unwrap();
        let v1 = sample_v1(2).encode().unwrap();
        for bytes in [bytes, v1] {
            for cut in 0..bytes.len() {
                let err = KeypointMessage::decode(&bytes[..cut]).unwrap_err();
                assert!(
                    matches!(err, DecodeError::Empty | DecodeError::Truncated(_)),
                    "cut at {cut}: {err:?}"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = sample(1).encode().unwrap();
        bytes.push(0);
        assert_eq!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn unknown_schema_versions_are_rejected() {
        let mut bytes = sample(1).encode().unwrap();
        for v in [0u16, 3, 0xFFFF] {
            bytes[..2].copy_from_slice(&v.to_le_bytes());
            assert_eq!(
                KeypointMessage::decode(&bytes),
                Err(DecodeError::UnsupportedVersion {
                    found: v,
                    supported: SCHEMA_VERSION
                })
            );
        }
    }

    #[test]
    fn forged_lengths_do_not_allocate() {
        // Camera id length u64::MAX, then a pose count of 2^40.
        for version in [1u16, 2] {
            let mut bytes = version.to_le_bytes().to_vec();
            bytes.extend_from_slice(&u64::MAX.to_le_bytes());
            let err = KeypointMessage::decode(&bytes).unwrap_err();
            assert_eq!(err.reason(), "camera_id_too_long", "{err}");
            let mut bytes = if version == 1 {
                sample_v1(0)
            } else {
                sample(0)
            }
            .encode()
            .unwrap();
            let n = bytes.len();
            bytes[n - 8..].copy_from_slice(&(1u64 << 40).to_le_bytes());
            assert_eq!(
                KeypointMessage::decode(&bytes),
                Err(DecodeError::TooManyPoses(1 << 40))
            );
            // 17 claimed, one present: named for the count, not for the missing bytes.
            let mut bytes = if version == 1 {
                sample_v1(1)
            } else {
                sample(1)
            }
            .encode()
            .unwrap();
            let at = bytes.len() - 8 - if version == 1 { 466 } else { 471 };
            bytes[at..at + 8].copy_from_slice(&17u64.to_le_bytes());
            assert_eq!(
                KeypointMessage::decode(&bytes),
                Err(DecodeError::TooManyPoses(17))
            );
        }
        // 17 poses claimed, each fully present: a well-formed but over-limit message.
        let mut msg = sample(MAX_POSES);
        msg.poses.push(sample_pose(0.0));
        assert_eq!(msg.encode(), Err(EncodeError::TooManyPoses(MAX_POSES + 1)));
    }

    #[test]
    fn invalid_fields_are_rejected() {
        // A camera id that is not valid UTF-8, then one with a forbidden character.
        let mut bytes = sample(0).encode().unwrap();
        bytes[10] = 0xFF;
        assert!(matches!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::Malformed(_))
        ));
        let mut bytes = sample(0).encode().unwrap();
        bytes[10] = b'/';
        assert!(matches!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::CameraId(_))
        ));
        // A NaN coordinate: x of the first landmark of the first pose.
        let mut bytes = sample(1).encode().unwrap();
        let x0 = 55 + 6 + 8;
        bytes[x0..x0 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(
            KeypointMessage::decode(&bytes),
            Err(DecodeError::NonFinite {
                pose: 0,
                field: "x"
            })
        );
        let mut msg = sample(1);
        msg.poses[0].landmarks[5].z = f32::INFINITY;
        assert_eq!(
            msg.encode(),
            Err(EncodeError::NonFinite {
                pose: 0,
                field: "z"
            })
        );
    }

    #[test]
    fn reserved_flag_bits_are_ignored() {
        let mut bytes = sample(0).encode().unwrap();
        let flags = 2 + 8 + 6 + 8 + 8 + 8 + 4 + 4 + 4;
        bytes[flags] = 0b1111_1110;
        assert!(!KeypointMessage::decode(&bytes).unwrap().frame_published);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic xorshift generator: random bytes behind a valid version prefix.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        // Good messages of both versions, v2 with and without world landmarks.
        let good = [sample(2).encode().unwrap(), sample_v1(1).encode().unwrap()];
        for round in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let len = (s % 1200) as usize;
            let mut buf: Vec<u8> = (0..len)
                .map(|i| (s.rotate_left(i as u32 % 64) >> 3) as u8)
                .collect();
            if round % 2 == 0 && len >= 2 {
                let version = if round % 4 == 0 { 2u16 } else { 1 };
                buf[..2].copy_from_slice(&version.to_le_bytes());
            }
            let _ = KeypointMessage::decode(&buf);
            // Also flip one byte of a good message; what still decodes re-encodes.
            let mut flipped = good[round % 2].clone();
            let at = (s as usize) % flipped.len();
            flipped[at] ^= (s >> 32) as u8 | 1;
            if let Ok(m) = KeypointMessage::decode(&flipped) {
                let again = m.encode().expect("a decoded message encodes");
                assert_eq!(KeypointMessage::decode(&again), Ok(m));
            }
        }
    }

    #[test]
    fn json_view() {
        let msg = sample(2);
        let v = msg.to_json();
        assert_eq!(v["schema_version"], 2);
        assert_eq!(v["camera_id"], "cam-01");
        assert_eq!(v["run"], 0x000A_BCDE_F012_3457u64);
        assert_eq!(v["poses"][0]["track_id"], 7);
        assert_eq!(v["poses"][0]["landmarks"].as_array().unwrap().len(), 33);
        assert_eq!(v["poses"][0]["landmarks"][0].as_array().unwrap().len(), 5);
        assert!(v["poses"][0]["world_landmarks"].is_null());
        assert_eq!(
            v["poses"][1]["world_landmarks"].as_array().unwrap().len(),
            33
        );
        assert_eq!(
            v["poses"][1]["world_landmarks"][0]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let back: KeypointMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, msg);
    }
}
