//! Decodes keypoint messages given as hex lines on stdin with the Rust decoder, one JSON line out
//! per input: `{"json": VIEW}` or `{"error": REASON}`. The Python kit's tests compare their own
//! decoder with this one on random and mutated bytes (consumer/python/tests/test_rust_agrees.py).
//!
//! `printf '0200\n' | cargo run -p pose-shared --example decode_lines`

use std::io::{BufRead, Write};

use pose_shared::KeypointMessage;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let line = line.trim();
        let bytes: Option<Vec<u8>> = (0..line.len())
            .step_by(2)
            .map(|i| {
                line.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let result = match bytes {
            None => json!({"error": "not_hex"}),
            Some(b) => match KeypointMessage::decode(&b) {
                Ok(m) => json!({"json": m.to_json()}),
                Err(e) => json!({"error": e.reason()}),
            },
        };
        writeln!(out, "{result}")?;
    }
    out.flush()?;
    Ok(())
}
