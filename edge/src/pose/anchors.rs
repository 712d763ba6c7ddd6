//! SSD anchors of the pose detector (`SsdAnchorsCalculator` options, blazepose.md §3.2).

/// Number of anchors: 28²·2 + 14²·2 + 7²·6.
pub const NUM_ANCHORS: usize = 2254;

/// Detector input size (square).
pub const INPUT_SIZE: u32 = 224;

/// Feature-map strides of the 5 layers; consecutive equal strides are merged into one grid.
const STRIDES: [u32; 5] = [8, 16, 32, 32, 32];
/// Anchors each layer adds per cell: one for aspect ratio 1.0, one interpolated.
const ANCHORS_PER_LAYER: usize = 2;

/// Anchor centres, normalized to the 224×224 input. With `fixed_anchor_size` every anchor is 1×1,
/// so only the centre matters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    pub x: f32,
    pub y: f32,
}

/// Generates the anchors in the order of the model's output rows.
pub fn generate() -> Vec<Anchor> {
    let mut out = Vec::with_capacity(NUM_ANCHORS);
    let mut layer = 0;
    while layer < STRIDES.len() {
        let stride = STRIDES[layer];
        let mut merged = 0;
        while layer < STRIDES.len() && STRIDES[layer] == stride {
            merged += 1;
            layer += 1;
        }
        let grid = INPUT_SIZE.div_ceil(stride);
        for y in 0..grid {
            for x in 0..grid {
                let a = Anchor {
                    x: (x as f32 + 0.5) / grid as f32,
                    y: (y as f32 + 0.5) / grid as f32,
                };
                out.extend(std::iter::repeat_n(a, merged * ANCHORS_PER_LAYER));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_and_layout() {
        let a = generate();
        assert_eq!(a.len(), NUM_ANCHORS);
        // First: stride 8, cell (0,0), twice.
        assert_eq!(
            a[0],
            Anchor {
                x: 0.5 / 28.0,
                y: 0.5 / 28.0
            }
        );
        assert_eq!(a[1], a[0]);
        assert_eq!(
            a[2],
            Anchor {
                x: 1.5 / 28.0,
                y: 0.5 / 28.0
            }
        );
        // Last of the stride-8 block and first of the stride-16 block.
        assert_eq!(
            a[1567],
            Anchor {
                x: 27.5 / 28.0,
                y: 27.5 / 28.0
            }
        );
        assert_eq!(
            a[1568],
            Anchor {
                x: 0.5 / 14.0,
                y: 0.5 / 14.0
            }
        );
        // Stride 32: 6 anchors per cell; the last is the bottom-right cell.
        assert_eq!(
            a[1960],
            Anchor {
                x: 0.5 / 7.0,
                y: 0.5 / 7.0
            }
        );
        assert!(a[1960..1966].iter().all(|x| *x == a[1960]));
        assert_eq!(
            a[1966],
            Anchor {
                x: 1.5 / 7.0,
                y: 0.5 / 7.0
            }
        );
        assert_eq!(
            a[NUM_ANCHORS - 1],
            Anchor {
                x: 6.5 / 7.0,
                y: 6.5 / 7.0
            }
        );
    }
}
