//! Keypoint messages (wire versions 1 and 2): any bytes decode to a message or a typed error,
//! never a panic; what decodes re-encodes, in the same version, to bytes that decode to the same
//! message (not always the same bytes: reserved flag bits are ignored when read, WIRE.md), and
//! draws (each person with its palette and track id) without panicking. Seeded from the shared
//! test vectors by scripts/fuzz.sh.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_shared::KeypointMessage;
use pose_shared::draw::{Canvas, draw_person};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = KeypointMessage::decode(data) else {
        return;
    };
    let again = msg.encode().expect("a decoded message encodes");
    let back = KeypointMessage::decode(&again).expect("a re-encoded message decodes");
    assert_eq!(back, msg, "decode, encode, decode gives the same message");
    assert_eq!(again.len(), data.len(), "same layout, same size");
    assert_eq!(again[..2], data[..2], "same version");
    let _ = msg.to_json();
    let mut rgb = vec![0u8; 64 * 48 * 3];
    if let Some(mut canvas) = Canvas::new(64, 48, &mut rgb) {
        for pose in &msg.poses {
            draw_person(&mut canvas, pose);
        }
    }
});
