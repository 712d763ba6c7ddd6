//! Camera pixel formats and their conversion to packed RGB (used by the libcamera source).

/// Pixel formats the source can convert, by their DRM fourcc. Memory byte order is the reverse
/// of the name (DRM formats are little-endian words): `BGR888` is R, G, B in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CameraFormat {
    /// `BG24`: R, G, B bytes: copied as is (the Pi's ISP produces it natively).
    Bgr888,
    /// `RG24`: B, G, R bytes: swapped.
    Rgb888,
    /// `XB24`: R, G, B, X bytes: the 4th byte dropped.
    Xbgr8888,
    /// `XR24`: B, G, R, X bytes: swapped, 4th byte dropped.
    Xrgb8888,
}

impl CameraFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "BGR888" => Some(Self::Bgr888),
            "RGB888" => Some(Self::Rgb888),
            "XBGR8888" => Some(Self::Xbgr8888),
            "XRGB8888" => Some(Self::Xrgb8888),
            _ => None,
        }
    }

    /// The DRM fourcc libcamera names the format by.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Self::Bgr888 => *b"BG24",
            Self::Rgb888 => *b"RG24",
            Self::Xbgr8888 => *b"XB24",
            Self::Xrgb8888 => *b"XR24",
        }
    }

    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Bgr888 | Self::Rgb888 => 3,
            Self::Xbgr8888 | Self::Xrgb8888 => 4,
        }
    }

    /// Converts one row of `width` pixels to packed RGB.
    pub fn row_to_rgb(self, src: &[u8], dst: &mut [u8]) {
        match self {
            Self::Bgr888 => dst.copy_from_slice(&src[..dst.len()]),
            Self::Rgb888 => {
                for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                    d.copy_from_slice(&[s[2], s[1], s[0]]);
                }
            }
            Self::Xbgr8888 => {
                for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                    d.copy_from_slice(&s[..3]);
                }
            }
            Self::Xrgb8888 => {
                for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                    d.copy_from_slice(&[s[2], s[1], s[0]]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_convert_to_rgb() {
        let mut out = [0u8; 6];
        CameraFormat::Bgr888.row_to_rgb(&[1, 2, 3, 4, 5, 6], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        CameraFormat::Rgb888.row_to_rgb(&[3, 2, 1, 6, 5, 4], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        CameraFormat::Xbgr8888.row_to_rgb(&[1, 2, 3, 0, 4, 5, 6, 0], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        CameraFormat::Xrgb8888.row_to_rgb(&[3, 2, 1, 0, 6, 5, 4, 0], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        assert_eq!(CameraFormat::parse("bgr888"), Some(CameraFormat::Bgr888));
        assert_eq!(CameraFormat::parse("YUV420"), None);
        assert_eq!(&CameraFormat::Bgr888.fourcc(), b"BG24");
        assert_eq!(CameraFormat::Xrgb8888.bytes_per_pixel(), 4);
    }
}
