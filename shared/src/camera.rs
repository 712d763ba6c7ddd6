//! Camera identifiers: the Kafka key of every message and a path segment in the cloud's URLs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest camera id, in bytes.
pub const MAX_CAMERA_ID_LEN: usize = 64;

/// A validated camera id: 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`.
///
/// The character set keeps ids safe in URLs, file names, Kafka keys and log lines without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraIdError {
    #[error("camera id is empty")]
    Empty,
    #[error("camera id is {0} bytes long; at most {MAX_CAMERA_ID_LEN} are allowed")]
    TooLong(usize),
    #[error("camera id contains {0:?}; only ASCII letters, digits, '-', '_' and '.' are allowed")]
    BadChar(char),
}

impl CameraIdError {
    /// A short stable name of the error, for metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "camera_id_empty",
            Self::TooLong(_) => "camera_id_too_long",
            Self::BadChar(_) => "camera_id_bad_char",
        }
    }
}

impl CameraId {
    pub fn new(id: impl Into<String>) -> Result<Self, CameraIdError> {
        let id = id.into();
        Self::validate(&id)?;
        Ok(Self(id))
    }

    /// Checks `id` against the rules of [`CameraId`] without allocating.
    pub fn validate(id: &str) -> Result<(), CameraIdError> {
        if id.is_empty() {
            return Err(CameraIdError::Empty);
        }
        if id.len() > MAX_CAMERA_ID_LEN {
            return Err(CameraIdError::TooLong(id.len()));
        }
        match id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            Some(c) => Err(CameraIdError::BadChar(c)),
            None => Ok(()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = CameraIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CameraId> for String {
    fn from(value: CameraId) -> Self {
        value.0
    }
}

impl std::str::FromStr for CameraId {
    type Err = CameraIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CameraId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_ids() {
        for id in ["cam-01", "pi.kitchen", "A_b-9", &"x".repeat(64)] {
            assert!(CameraId::new(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(CameraId::new(""), Err(CameraIdError::Empty));
        assert_eq!(
            CameraId::new("x".repeat(65)),
            Err(CameraIdError::TooLong(65))
        );
        assert_eq!(CameraId::new("a/b"), Err(CameraIdError::BadChar('/')));
        assert_eq!(CameraId::new("caméra"), Err(CameraIdError::BadChar('é')));
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<CameraId>("\"ok-1\"").is_ok());
        assert!(serde_json::from_str::<CameraId>("\"no way\"").is_err());
    }
}
