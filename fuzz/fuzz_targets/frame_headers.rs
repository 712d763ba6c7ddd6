//! Frame headers: the input is read as lines `name=value` (a line without `=` is a header
//! without a value). Any set decodes to metadata or a typed error; what decodes writes back to
//! headers that decode to the same metadata.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pose_shared::frame::FrameMeta;

fuzz_target!(|data: &[u8]| {
    let headers: Vec<(String, Option<&[u8]>)> = data
        .split(|&b| b == b'\n')
        .map(|line| match line.iter().position(|&b| b == b'=') {
            Some(i) => (
                String::from_utf8_lossy(&line[..i]).into_owned(),
                Some(&line[i + 1..]),
            ),
            None => (String::from_utf8_lossy(line).into_owned(), None),
        })
        .collect();
    let Ok(meta) = FrameMeta::from_headers(headers.iter().map(|(k, v)| (k.as_str(), *v))) else {
        return;
    };
    let written = meta.to_headers();
    let back = FrameMeta::from_headers(written.iter().map(|(k, v)| (*k, Some(v.as_bytes()))))
        .expect("written headers decode");
    assert_eq!(back, meta);
});
