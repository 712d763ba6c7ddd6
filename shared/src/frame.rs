//! The frame message: the Kafka value is the plain JPEG; its metadata travels in Kafka headers.
//!
//! Header values are ASCII decimal strings (and the camera id as is), so that any Kafka tool can
//! show them. `WIRE.md` lists them. Version 2 adds the `run` header; version-1 headers (no run)
//! are still read, with run 0.

use crate::camera::{CameraId, CameraIdError};
use crate::keypoints::{SCHEMA_VERSION_V1, SCHEMA_VERSION_V2};

pub const HEADER_SCHEMA_VERSION: &str = "schema_version";
pub const HEADER_CAMERA_ID: &str = "camera_id";
pub const HEADER_RUN: &str = "run";
pub const HEADER_SEQ: &str = "seq";
pub const HEADER_CAPTURE_TS_US: &str = "capture_ts_us";
pub const HEADER_WIDTH: &str = "width";
pub const HEADER_HEIGHT: &str = "height";
pub const HEADER_CONTENT_TYPE: &str = "content_type";
/// The only content type of schema version 1.
pub const CONTENT_TYPE_JPEG: &str = "image/jpeg";

/// Largest width or height a frame may claim (8K video is 7680 wide).
pub const MAX_DIMENSION: u32 = 8192;
/// Largest JPEG a frame message may carry.
pub const MAX_JPEG_BYTES: usize = 8 * 1024 * 1024;

/// Metadata of one published JPEG frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameMeta {
    pub camera_id: CameraId,
    /// The edge process's run id, as in [`crate::KeypointMessage::run`]; 0 for a version-1 frame
    /// (no `run` header), and then [`FrameMeta::to_headers`] writes version 1.
    pub run: u64,
    /// Same numbering as [`crate::KeypointMessage::seq`]: the join key with the keypoints.
    pub seq: u64,
    /// Capture time, µs since the Unix epoch on the edge's clock.
    pub capture_ts_us: u64,
    /// Size of the JPEG image in pixels (after the edge's downsampling).
    pub width: u32,
    pub height: u32,
}

/// Why a frame message was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("header {0:?} is missing")]
    MissingHeader(&'static str),
    #[error("header {name:?} is invalid: {reason}")]
    InvalidHeader { name: &'static str, reason: String },
    #[error("unsupported schema version {found} (this decoder reads versions 1 to {supported})")]
    UnsupportedVersion { found: String, supported: u16 },
    #[error("invalid camera id: {0}")]
    CameraId(#[from] CameraIdError),
    #[error("image size {width}x{height} is out of range (1..={MAX_DIMENSION} each)")]
    DimensionOutOfRange { width: u32, height: u32 },
    #[error("frame value is empty")]
    Empty,
    #[error("frame value is {0} bytes; at most {MAX_JPEG_BYTES} are allowed")]
    TooLarge(usize),
    #[error("frame value is not a JPEG (no start-of-image marker)")]
    NotJpeg,
}

impl FrameError {
    /// A short stable name of the error, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::InvalidHeader { .. } => "invalid_header",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::CameraId(e) => e.reason(),
            Self::DimensionOutOfRange { .. } => "size_out_of_range",
            Self::Empty => "empty",
            Self::TooLarge(_) => "too_large",
            Self::NotJpeg => "not_jpeg",
        }
    }
}

impl FrameMeta {
    /// The Kafka headers of this frame, in a fixed order: version 2 with a `run` header, or
    /// version 1 without it when `run` is 0.
    pub fn to_headers(&self) -> Vec<(&'static str, String)> {
        let version = if self.run == 0 {
            SCHEMA_VERSION_V1
        } else {
            SCHEMA_VERSION_V2
        };
        let mut h = Vec::with_capacity(8);
        h.push((HEADER_SCHEMA_VERSION, version.to_string()));
        h.push((HEADER_CAMERA_ID, self.camera_id.to_string()));
        if self.run != 0 {
            h.push((HEADER_RUN, self.run.to_string()));
        }
        h.extend([
            (HEADER_SEQ, self.seq.to_string()),
            (HEADER_CAPTURE_TS_US, self.capture_ts_us.to_string()),
            (HEADER_WIDTH, self.width.to_string()),
            (HEADER_HEIGHT, self.height.to_string()),
            (HEADER_CONTENT_TYPE, CONTENT_TYPE_JPEG.to_owned()),
        ]);
        h
    }

    /// Reads the metadata from Kafka headers (name, value). Unknown headers are ignored; when a
    /// header repeats, the last one counts (as Kafka's `lastHeader`). Never panics.
    pub fn from_headers<'a, I>(headers: I) -> Result<Self, FrameError>
    where
        I: IntoIterator<Item = (&'a str, Option<&'a [u8]>)>,
    {
        let mut fields: [Option<&[u8]>; 8] = [None; 8];
        const NAMES: [&str; 8] = [
            HEADER_SCHEMA_VERSION,
            HEADER_CAMERA_ID,
            HEADER_SEQ,
            HEADER_CAPTURE_TS_US,
            HEADER_WIDTH,
            HEADER_HEIGHT,
            HEADER_CONTENT_TYPE,
            HEADER_RUN,
        ];
        for (name, value) in headers {
            if let Some(i) = NAMES.iter().position(|n| *n == name) {
                fields[i] = Some(value.unwrap_or_default());
            }
        }
        let get = |i: usize| -> Result<&str, FrameError> {
            let raw = fields[i].ok_or(FrameError::MissingHeader(NAMES[i]))?;
            std::str::from_utf8(raw).map_err(|_| FrameError::InvalidHeader {
                name: NAMES[i],
                reason: "not UTF-8".to_owned(),
            })
        };
        let version = get(0)?;
        let v2 = match version {
            "1" => false,
            "2" => true,
            _ => {
                return Err(FrameError::UnsupportedVersion {
                    found: version.chars().take(16).collect(),
                    supported: SCHEMA_VERSION_V2,
                });
            }
        };
        // Absent content type means JPEG; any other value is a format this version cannot read.
        if fields[6].is_some() && get(6)? != CONTENT_TYPE_JPEG {
            return Err(FrameError::InvalidHeader {
                name: HEADER_CONTENT_TYPE,
                reason: format!("expected {CONTENT_TYPE_JPEG}"),
            });
        }
        let camera_id = CameraId::new(get(1)?)?;
        // Version 2 needs a nonzero run; version 1 has none (a stray `run` header is ignored).
        let run = if v2 {
            match parse_num::<u64>(NAMES[7], get(7)?)? {
                0 => {
                    return Err(FrameError::InvalidHeader {
                        name: HEADER_RUN,
                        reason: "run id 0 in a version-2 frame".to_owned(),
                    });
                }
                run => run,
            }
        } else {
            0
        };
        let seq = parse_num::<u64>(NAMES[2], get(2)?)?;
        let capture_ts_us = parse_num::<u64>(NAMES[3], get(3)?)?;
        let width = parse_num::<u32>(NAMES[4], get(4)?)?;
        let height = parse_num::<u32>(NAMES[5], get(5)?)?;
        if !(1..=MAX_DIMENSION).contains(&width) || !(1..=MAX_DIMENSION).contains(&height) {
            return Err(FrameError::DimensionOutOfRange { width, height });
        }
        Ok(Self {
            camera_id,
            run,
            seq,
            capture_ts_us,
            width,
            height,
        })
    }
}

fn parse_num<T: std::str::FromStr>(name: &'static str, s: &str) -> Result<T, FrameError> {
    // Plain ASCII digits only: no sign, no spaces, no "0x".
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameError::InvalidHeader {
            name,
            reason: format!(
                "{:?} is not a decimal number",
                s.chars().take(24).collect::<String>()
            ),
        });
    }
    s.parse().map_err(|_| FrameError::InvalidHeader {
        name,
        reason: "number out of range".to_owned(),
    })
}

/// Cheap checks on a frame value before anyone decodes it: not empty, not too large, and it starts
/// with the JPEG start-of-image marker `FF D8 FF`. A full decode is the consumer's job.
pub fn check_jpeg(value: &[u8]) -> Result<(), FrameError> {
    match value.len() {
        0 => Err(FrameError::Empty),
        n if n > MAX_JPEG_BYTES => Err(FrameError::TooLarge(n)),
        _ if !value.starts_with(&[0xFF, 0xD8, 0xFF]) => Err(FrameError::NotJpeg),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FrameMeta {
        FrameMeta {
            camera_id: CameraId::new("cam-7").unwrap(),
            run: 0x1F_0000_0000_0007,
            seq: 42,
            capture_ts_us: 1_764_000_000_000_001,
            width: 320,
            height: 240,
        }
    }

    fn headers(m: &FrameMeta) -> Vec<(&'static str, Vec<u8>)> {
        m.to_headers()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect()
    }

    fn parse(h: &[(&str, Vec<u8>)]) -> Result<FrameMeta, FrameError> {
        FrameMeta::from_headers(h.iter().map(|(k, v)| (*k, Some(v.as_slice()))))
    }

    #[test]
    fn round_trip() {
        let m = meta();
        assert_eq!(parse(&headers(&m)).unwrap(), m);
    }

    #[test]
    fn unknown_headers_ignored_and_last_wins() {
        let m = meta();
        let mut h = headers(&m);
        h.push(("traceparent", b"00-abc".to_vec()));
        h.push((HEADER_SEQ, b"43".to_vec()));
        assert_eq!(parse(&h).unwrap().seq, 43);
    }

    #[test]
    fn each_missing_header_is_named() {
        let all = headers(&meta());
        for skip in 0..7 {
            let h: Vec<_> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, x)| x.clone())
                .collect();
            assert_eq!(parse(&h), Err(FrameError::MissingHeader(all[skip].0)));
        }
        // content_type may be absent.
        assert!(parse(&all[..7]).is_ok());
        // A header with a null value counts as empty, not as missing.
        let mut h: Vec<(&str, Option<&[u8]>)> =
            all.iter().map(|(k, v)| (*k, Some(v.as_slice()))).collect();
        h[3].1 = None;
        assert!(matches!(
            FrameMeta::from_headers(h),
            Err(FrameError::InvalidHeader { name: "seq", .. })
        ));
    }

    #[test]
    fn version_1_headers_are_read_with_run_0() {
        let mut m = meta();
        m.run = 0;
        let h = headers(&m);
        assert_eq!(h[0], (HEADER_SCHEMA_VERSION, b"1".to_vec()));
        assert!(h.iter().all(|(k, _)| *k != HEADER_RUN), "v1 has no run");
        assert_eq!(parse(&h).unwrap(), m);
        // A stray run header in a version-1 frame is ignored.
        let mut stray = h.clone();
        stray.push((HEADER_RUN, b"77".to_vec()));
        assert_eq!(parse(&stray).unwrap().run, 0);
        // Version 2 names its run; a missing or zero run is rejected.
        let v2 = headers(&meta());
        assert_eq!(v2[0], (HEADER_SCHEMA_VERSION, b"2".to_vec()));
        assert_eq!(v2[2], (HEADER_RUN, meta().run.to_string().into_bytes()));
        let mut zero = v2.clone();
        zero[2].1 = b"0".to_vec();
        assert!(matches!(
            parse(&zero),
            Err(FrameError::InvalidHeader { name: "run", .. })
        ));
        let no_run: Vec<_> = v2.into_iter().filter(|(k, _)| *k != HEADER_RUN).collect();
        assert_eq!(parse(&no_run), Err(FrameError::MissingHeader("run")));
    }

    #[test]
    fn bad_values() {
        let base = headers(&meta());
        let with = |name: &str, value: &[u8]| {
            let mut h = base.clone();
            for (k, v) in h.iter_mut() {
                if *k == name {
                    *v = value.to_vec();
                }
            }
            parse(&h)
        };
        for v in [&b"3"[..], b"0", b"02", b""] {
            assert!(matches!(
                with("schema_version", v),
                Err(FrameError::UnsupportedVersion { .. })
            ));
        }
        assert!(matches!(
            with("run", b"-5"),
            Err(FrameError::InvalidHeader { name: "run", .. })
        ));
        assert!(matches!(
            with("seq", b"-1"),
            Err(FrameError::InvalidHeader { .. })
        ));
        assert!(matches!(
            with("seq", b" 1"),
            Err(FrameError::InvalidHeader { .. })
        ));
        assert!(matches!(
            with("seq", b"99999999999999999999999"),
            Err(FrameError::InvalidHeader { .. })
        ));
        assert!(matches!(
            with("width", b"\xff\xfe"),
            Err(FrameError::InvalidHeader { .. })
        ));
        assert!(matches!(
            with("width", b"0"),
            Err(FrameError::DimensionOutOfRange { .. })
        ));
        assert!(matches!(
            with("height", b"100000"),
            Err(FrameError::DimensionOutOfRange { .. })
        ));
        assert!(matches!(
            with("camera_id", b"../etc"),
            Err(FrameError::CameraId(_))
        ));
        assert!(matches!(
            with("content_type", b"image/png"),
            Err(FrameError::InvalidHeader { .. })
        ));
    }

    #[test]
    fn jpeg_checks() {
        assert_eq!(check_jpeg(&[]), Err(FrameError::Empty));
        assert_eq!(check_jpeg(b"GIF89a"), Err(FrameError::NotJpeg));
        assert_eq!(check_jpeg(&[0xFF, 0xD8]), Err(FrameError::NotJpeg));
        assert!(check_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0]).is_ok());
        assert!(matches!(
            check_jpeg(&vec![0xFF; MAX_JPEG_BYTES + 1]),
            Err(FrameError::TooLarge(_))
        ));
    }
}
