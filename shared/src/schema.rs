//! The JSON Schema (draft 2020-12) of the keypoint message's JSON view
//! ([`crate::KeypointMessage::to_json`]): `shared/schema/keypoints.schema.json`, built in so that
//! the cloud can serve it (`GET /api/schema/keypoints.json`).

/// The schema's text, exactly the checked-in file.
pub const KEYPOINTS_SCHEMA_JSON: &str = include_str!("../schema/keypoints.schema.json");
