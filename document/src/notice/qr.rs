//! A QR code as inline SVG: no image file, no second request, no script, crisp at any print
//! resolution. The modules are encoded by the `qrcode` crate; the SVG is written here (one
//! path of unit rectangles, one per run of dark modules in a row), so that the markup is ours
//! alone and can be put in a page as it is.

use std::fmt::Write as _;

use qrcode::{Color, EcLevel, QrCode};

/// The light margin around the code, in modules (the specification asks for 4).
pub const QUIET_ZONE: usize = 4;

/// `data` as a QR code, `<svg class="qr">…</svg>`, with `label` as its accessible name
/// (escaped here). Error correction level M: a printed code still reads when a little of it is
/// smudged or folded. `None` when `data` is too long for any QR code.
pub fn svg(data: &str, label: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let dark = |x: usize, y: usize| colors.get(y * width + x) == Some(&Color::Dark);
    let mut path = String::new();
    for y in 0..width {
        let mut x = 0;
        while x < width {
            if !dark(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && dark(x, y) {
                x += 1;
            }
            let run = x - start;
            // Writing to a String cannot fail.
            let _ = write!(
                path,
                "M{} {}h{run}v1h-{run}z",
                start + QUIET_ZONE,
                y + QUIET_ZONE
            );
        }
    }
    let size = width + 2 * QUIET_ZONE;
    Some(format!(
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         role=\"img\" aria-label=\"{label}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        label = super::escape(label),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The dark modules of an SVG written by [`svg`], as a square of booleans with its quiet
    /// zone: the path's `M{x} {y}h{run}v1h-{run}z` rectangles, read back.
    pub(crate) fn modules(svg: &str) -> Vec<Vec<bool>> {
        let view = svg.split("viewBox=\"0 0 ").nth(1).expect("a viewBox");
        let size: usize = view.split(' ').next().unwrap().parse().unwrap();
        let d = svg.split(" d=\"").nth(1).expect("a path");
        let d = &d[..d.find('"').unwrap()];
        let mut grid = vec![vec![false; size]; size];
        for rect in d.split('z').filter(|r| !r.is_empty()) {
            let rest = rect.strip_prefix('M').unwrap();
            let (x, rest) = rest.split_once(' ').unwrap();
            let (y, rest) = rest.split_once('h').unwrap();
            let run = rest.split_once('v').unwrap().0;
            let (x, y, run): (usize, usize, usize) =
                (x.parse().unwrap(), y.parse().unwrap(), run.parse().unwrap());
            for cell in &mut grid[y][x..x + run] {
                *cell = true;
            }
        }
        grid
    }

    /// Decodes an SVG written by [`svg`] the way a phone's camera does: drawn at 4 pixels a
    /// module, the code found in the picture and read.
    pub(crate) fn decode(svg: &str) -> String {
        let grid = modules(svg);
        let scale = 4;
        let side = grid.len() * scale;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            if grid[y / scale][x / scale] { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one code in the picture");
        grids[0].decode().expect("a readable code").1
    }

    #[test]
    fn a_code_reads_back_as_its_text_and_has_its_quiet_zone() {
        let url = "https://hub.example.cn/lookup?receipt_no=370883101201-001-000042";
        let svg = svg(url, "扫码查询 <&>").unwrap();
        assert!(svg.starts_with("<svg class=\"qr\""));
        assert!(svg.contains("aria-label=\"扫码查询 &lt;&amp;&gt;\""));
        assert_eq!(decode(&svg), url);
        let grid = modules(&svg);
        let last = grid.len() - 1;
        for q in 0..QUIET_ZONE {
            assert!(!grid[q].contains(&true) && !grid[last - q].contains(&true));
            assert!(grid.iter().all(|row| !row[q] && !row[last - q]));
        }
        assert!(grid[QUIET_ZONE][QUIET_ZONE], "a finder pattern's corner");
    }

    #[test]
    fn text_too_long_for_any_code_gives_none() {
        assert!(svg(&"x".repeat(3000), "").is_none());
    }
}
