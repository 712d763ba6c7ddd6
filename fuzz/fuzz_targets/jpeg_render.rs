//! The cloud's JPEG path: the wire check, then decode, draw and encode. The first two bytes set
//! the size the frame's headers declare (1-1021 px each); the rest is the JPEG.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pose_cloud::consume::FrameMessage;
use pose_cloud::join::Joined;
use pose_cloud::render::{Overlay, render};
use pose_shared::CameraId;
use pose_shared::frame::{FrameMeta, check_jpeg};

fuzz_target!(|data: &[u8]| {
    let [w, h, jpeg @ ..] = data else {
        return;
    };
    if check_jpeg(jpeg).is_err() {
        return;
    }
    let camera_id = CameraId::new("fuzz").expect("valid id");
    let meta = FrameMeta {
        camera_id: camera_id.clone(),
        run: 1,
        seq: 1,
        capture_ts_us: 1,
        width: 1 + u32::from(*w) * 4,
        height: 1 + u32::from(*h) * 4,
    };
    let joined = Joined {
        camera_id,
        run: 1,
        seq: 1,
        capture_ts_us: 1,
        frame: Some(Arc::new(FrameMessage {
            meta,
            jpeg: jpeg.to_vec(),
        })),
        keypoints: None,
        stale: false,
    };
    let overlay = Overlay {
        fps: 30.0,
        latency_ms: 25.0,
    };
    if let Ok(r) = render(&joined, overlay, 80) {
        assert!(r.width <= joined.frame.as_ref().map_or(0, |f| f.meta.width));
    }
});
