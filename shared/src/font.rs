//! A 3×5 pixel bitmap font for overlays (camera ids, fps, latency, track ids), scaled by whole
//! pixels.
//!
//! Each glyph is 5 rows of 3 bits, most significant bit on the left. Letters are drawn as
//! capitals; characters without a glyph are drawn as a solid block.

use crate::draw::Canvas;

const fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b011, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'C' => [0b011, 0b100, 0b100, 0b100, 0b011],
        'D' => [0b110, 0b101, 0b101, 0b101, 0b110],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'G' => [0b011, 0b100, 0b101, 0b101, 0b011],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'I' => [0b111, 0b010, 0b010, 0b010, 0b111],
        'J' => [0b001, 0b001, 0b001, 0b101, 0b010],
        'K' => [0b101, 0b101, 0b110, 0b101, 0b101],
        'L' => [0b100, 0b100, 0b100, 0b100, 0b111],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'N' => [0b110, 0b101, 0b101, 0b101, 0b101],
        'O' => [0b010, 0b101, 0b101, 0b101, 0b010],
        'P' => [0b110, 0b101, 0b110, 0b100, 0b100],
        'Q' => [0b010, 0b101, 0b101, 0b110, 0b011],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'V' => [0b101, 0b101, 0b101, 0b101, 0b010],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        'X' => [0b101, 0b101, 0b010, 0b101, 0b101],
        'Y' => [0b101, 0b101, 0b010, 0b010, 0b010],
        'Z' => [0b111, 0b001, 0b010, 0b100, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ',' => [0b000, 0b000, 0b000, 0b010, 0b100],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '_' => [0b000, 0b000, 0b000, 0b000, 0b111],
        '/' => [0b001, 0b001, 0b010, 0b100, 0b100],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        '(' => [0b001, 0b010, 0b010, 0b010, 0b001],
        ')' => [0b100, 0b010, 0b010, 0b010, 0b100],
        '#' => [0b101, 0b111, 0b101, 0b111, 0b101],
        ' ' => [0; 5],
        _ => [0b111; 5],
    }
}

/// Width of one character cell (glyph plus spacing), in font pixels.
pub const CELL_W: u32 = 4;
/// Height of one line (glyph plus spacing), in font pixels.
pub const CELL_H: u32 = 6;

/// Size in image pixels of `text` drawn at `scale`.
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let n = text.chars().count() as u32;
    (n * CELL_W * scale, CELL_H * scale)
}

/// Draws `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` square.
/// Pixels outside the canvas are skipped.
pub fn draw_text(canvas: &mut Canvas<'_>, x: i64, y: i64, text: &str, scale: u32, colour: [u8; 3]) {
    let s = i64::from(scale.max(1));
    for (i, c) in text.chars().enumerate() {
        let rows = glyph(c.to_ascii_uppercase());
        let cx = x + i as i64 * i64::from(CELL_W) * s;
        for (r, bits) in rows.iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    canvas.fill_rect(cx + col * s, y + r as i64 * s, s, s, colour);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_digit_where_asked() {
        let (w, h) = (8u32, 12u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        let mut c = Canvas::new(w, h, &mut rgb).unwrap();
        draw_text(&mut c, 1, 1, "1", 2, [255, 255, 255]);
        let lit = |x: u32, y: u32| rgb[((y * w + x) * 3) as usize] == 255;
        // Top row of "1" is 010: the middle column, scaled 2× from (1, 1).
        assert!(!lit(1, 1) && lit(3, 1) && lit(4, 2) && !lit(5, 1));
        // Bottom row 111.
        assert!(lit(1, 9) && lit(3, 9) && lit(5, 9));
        assert_eq!(text_size("12.5 ms", 2), (56, 12));
    }

    #[test]
    fn every_camera_id_character_has_a_glyph_and_drawing_off_canvas_is_safe() {
        let box_glyph = glyph('\u{1}');
        for c in ('a'..='z').chain('0'..='9').chain(['-', '_', '.']) {
            assert_ne!(glyph(c.to_ascii_uppercase()), box_glyph, "{c}");
        }
        let mut rgb = vec![0u8; 3 * 4 * 4];
        let mut c = Canvas::new(4, 4, &mut rgb).unwrap();
        draw_text(&mut c, -100, 2, "WIDE TEXT", 3, [1, 2, 3]);
        draw_text(&mut c, 1000, 1000, "X", 1, [1, 2, 3]);
    }
}
