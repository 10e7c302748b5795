//! The pipeline on real images: every corpus image through every bench op, hostile inputs
//! refused with the right error, outputs compared with sharp's (golden files) within a
//! tolerance, EXIF orientation applied.

// Helpers here unwrap like the tests they serve: a panic is a failed test with its line.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use imgflex_core::{Policy, Route, TransformSpec, route_target};
use imgflex_handler::pipeline::{
    Limits, PipelineError, Pixels, decode_animation, decode_full, transform,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The committed test corpus (`tests/fixtures/corpus`, its README says what each file
/// covers), or any folder of images named `name-WxH.ext` given as `IMGFLEX_CORPUS` (e.g. the
/// full benchmark corpus).
fn corpus() -> PathBuf {
    std::env::var_os("IMGFLEX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("corpus"))
}

/// A file of the committed test corpus, whatever `IMGFLEX_CORPUS` says.
fn test_image(name: &str) -> PathBuf {
    fixtures().join("corpus").join(name)
}

fn spec(original: &str, query: &str) -> TransformSpec {
    match route_target(&format!("/{original}?{query}"), None, &Policy::default()).unwrap() {
        Route::Variant(v) => v.spec,
        other => panic!("{other:?}"),
    }
}

/// The corpus names carry their size: `cups-2560x1600.jpg`.
fn source_size(name: &str) -> (u32, u32) {
    let dims = name.rsplit_once('-').unwrap().1.split_once('.').unwrap().0;
    let (w, h) = dims.split_once('x').unwrap();
    (w.parse().unwrap(), h.parse().unwrap())
}

fn scaled(src: (u32, u32), width: u32) -> (u32, u32) {
    (
        width,
        ((f64::from(src.1) * f64::from(width) / f64::from(src.0)).round() as u32).max(1),
    )
}

/// The bench ops (../shared/bench/README.md) with the size each must produce.
fn ops(src: (u32, u32), png: bool) -> Vec<(&'static str, &'static str, (u32, u32))> {
    let mut ops = vec![
        ("thumb", "w=300&fm=jpeg&q=80&enlarge=1", scaled(src, 300)),
        (
            "card",
            "w=800&h=600&fit=cover&fm=webp&q=75&enlarge=1",
            (800, 600),
        ),
        (
            "hero",
            "w=1920&fm=jpeg&q=82",
            if src.0 > 1920 { scaled(src, 1920) } else { src },
        ),
        ("avif", "w=800&fm=avif&q=50&enlarge=1", scaled(src, 800)),
    ];
    if png {
        ops.push(("png-small", "w=256&fm=png&enlarge=1", scaled(src, 256)));
    }
    ops
}

fn magic_ok(format: imgflex_core::Format, bytes: &[u8]) -> bool {
    use imgflex_core::Format::*;
    match format {
        Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        Png => bytes.starts_with(b"\x89PNG"),
        Webp => bytes.len() > 12 && &bytes[8..12] == b"WEBP",
        Avif => bytes.len() > 12 && &bytes[4..12] == b"ftypavif",
    }
}

#[test]
fn every_corpus_image_through_every_op() {
    let limits = Limits::default();
    let mut names: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| imgflex_core::image_extension(n).is_some())
        .collect();
    names.sort();
    // Every decoder path: JPEG baseline, progressive and greyscale, PNG RGB and RGBA, GIF,
    // WebP (the committed corpus has eight).
    assert!(names.len() >= 8, "{names:?}");
    let mut failures = Vec::new();
    for name in &names {
        let bytes = std::fs::read(corpus().join(name)).unwrap();
        let src = source_size(name);
        for (op, query, want) in ops(src, name.ends_with(".png")) {
            let s = spec(name, query);
            match transform(&bytes, &s, &limits) {
                Ok(out) => {
                    let ok = (out.width, out.height) == want && magic_ok(s.format, &out.bytes);
                    // Every output is decoded back, AVIF too (rav1d reads what rav1e wrote).
                    let decoded =
                        Some(decode_full(&out.bytes, &limits).map(|p| (p.width, p.height)));
                    if !ok
                        || decoded
                            .as_ref()
                            .is_some_and(|d| d.as_ref().ok() != Some(&want))
                    {
                        failures.push(format!(
                            "{name} {op}: {}x{} {decoded:?}, want {want:?}",
                            out.width, out.height
                        ));
                    }
                }
                Err(e) => failures.push(format!("{name} {op}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_progressive_jpeg_cut_in_the_scans_a_reduced_decode_skips_is_refused() {
    // The story: an upload of a progressive photo (cups, quality ~90) died in its last tenth,
    // inside the final AC refinement scans. A reduced decode never reads those scans (at 1/8
    // only the DC ones, at 1/2 all but the last refinements), so without a check it would
    // serve a slightly soft image where a full-size decode refuses the file. It is refused
    // at every scale: thumb (1/8), w=1000 (1/2) and w=2000 (full size).
    let whole = std::fs::read(fixtures().join("corpus/cups-2560x1600.jpg")).unwrap();
    let cut = &whole[..whole.len() * 9 / 10];
    let limits = Limits::default();
    for query in ["w=300&fm=jpeg", "w=1000&fm=jpeg", "w=2000&fm=jpeg"] {
        let err = match transform(cut, &spec("cups.jpg", query), &limits) {
            Err(e) => e,
            Ok(out) => panic!(
                "{query}: the cut file was served, {}x{}",
                out.width, out.height
            ),
        };
        assert_eq!(err.status(), 422, "{query}: {err}");
        assert!(err.to_string().contains("truncated"), "{query}: {err}");
        // The whole file still takes the reduced path and decodes.
        transform(&whole, &spec("cups.jpg", query), &limits).unwrap();
    }
}

#[test]
fn hostile_inputs_get_the_right_error() {
    let limits = Limits::default();
    // A thumbnail, and a JPEG re-encode at the source's own size (a plain YCbCr or grey
    // JPEG's coefficients are requantised there: a second reader, held to the same refusals).
    let specs = [
        spec("x.jpg", "w=300&fm=jpeg"),
        spec("x.jpg", "fm=jpeg&q=70"),
    ];
    // (file, status, story)
    let cases: &[(&str, u16, &str)] = &[
        // A PNG whose IHDR claims 60000x60000 (10.8 GB of RGB) with a 74-byte body: refused
        // from the header, before a single pixel buffer is allocated.
        ("bomb-60000x60000.png", 413, "decompression bomb"),
        // The GIF version: a 60000x60000 logical screen around a 1x1 frame.
        ("bomb-60000x60000.gif", 413, "decompression bomb"),
        // A JPEG that is nothing but a start-of-frame claiming 65000x65000.
        ("bomb-65000x65000.jpg", 413, "decompression bomb"),
        // A real photo cut off at a third of its bytes (an upload that died): libjpeg would
        // paint the rest grey; we refuse it, as sharp does by default.
        ("truncated.jpg", 422, "truncated"),
        // The same death on a file the coefficient route takes (truncated.jpg carries an
        // Adobe RGB profile, so it goes through pixels): cups, an eighth of its size, written
        // by libjpeg-turbo's cjpeg at q85 in 4:2:2 with no profile, cut at two thirds.
        ("truncated-422.jpg", 422, "truncated, coefficient route"),
        // A valid PNG whose pixel data was damaged in transit: the chunk CRC no longer matches.
        ("corrupt-idat.png", 422, "corrupt"),
        // A GIF whose LZW stream stops mid-image.
        ("truncated.gif", 422, "truncated"),
        // RIFF/WEBP magic followed by zeros: a signature and no image header after it is not
        // an image at all (415), not a broken one.
        ("garbage.webp", 415, "no header"),
        // The PNG signature and nothing else: an upload cut after eight bytes.
        ("signature-only.png", 415, "no header"),
        // A real 64x64 JPEG whose frame header says 64x0: no pixels to serve.
        ("zero-height.jpg", 415, "no pixels"),
        // After SOI, one `FF` fill byte, then a SOF claiming 60000x60000. libjpeg skips fill
        // bytes and reads that SOF; imagesize reads `FF FF` as a marker whose length is the
        // next two bytes (0xC000), jumps 48 KB into a comment and finds a decoy SOF of 10x10.
        // Checked on the probe alone, this 50 KB file asked for a 10.8 GB pixel buffer; the
        // decoder's own dimensions are checked now, after `jpeg_read_header`.
        ("sof-behind-fill-byte.jpg", 413, "SOF the probe cannot see"),
        // A legal 64x64 progressive JPEG whose last scan is repeated until it has 2,000
        // (24 KB): each scan walks every block again (~7 ms a scan at 49 MP). Refused by the
        // progress monitor at scan 101, before the rest is read.
        ("scans-2000.jpg", 413, "endless scans"),
        // Zero bytes: an upload that never happened.
        ("empty.jpg", 415, "empty"),
        // A proxy's 502 page saved as a .jpg: HTML is never an image.
        ("error-page.jpg", 415, "HTML"),
        // An SVG with a script in it, named .png: vector images are never rendered.
        ("logo.svg.png", 415, "SVG"),
        // Plain text with an image extension.
        ("notes.gif", 415, "text"),
        // The rocket AVIF cut at half its bytes: the container still parses up to the media
        // data, and the AV1 stops mid-tile.
        ("truncated.avif", 422, "truncated"),
        // 842 bytes of flat grey AV1 that decode to 8192x8192 (67 MP, 268 MB of RGBA):
        // refused from the container's `ispe`, before the decoder is started.
        ("bomb-8192x8192.avif", 413, "decompression bomb"),
        // The same file with its `ispe` rewritten to say 64x64: the probe is happy, so the
        // limit is checked again on the AV1 sequence header's own frame size (and rav1d's
        // `frame_size_limit` would refuse the frame header after it), never on `ispe` alone.
        ("bomb-ispe-64x64-av1-8192x8192.avif", 413, "ispe that lies"),
    ];
    for ((file, status, story), spec) in
        cases.iter().flat_map(|c| specs.iter().map(move |s| (c, s)))
    {
        let bytes = std::fs::read(fixtures().join("hostile").join(file)).unwrap();
        let result = std::panic::catch_unwind(|| transform(&bytes, spec, &limits));
        let err = match result {
            Ok(Err(e)) => e,
            Ok(Ok(out)) => panic!(
                "{file} ({story}) was accepted: {}x{}",
                out.width, out.height
            ),
            Err(_) => panic!("{file} ({story}) panicked"),
        };
        assert_eq!(err.status(), *status, "{file} ({story}): {err}");
        assert!(
            !err.public_message().contains("libjpeg"),
            "public text leaks library detail"
        );
    }
}

#[test]
fn the_probe_and_libjpeg_disagree_on_the_fill_byte_fixture() {
    // The story of `sof-behind-fill-byte.jpg` is true: the probe alone sees a small image.
    let bytes = std::fs::read(fixtures().join("hostile/sof-behind-fill-byte.jpg")).unwrap();
    let header = imgflex_handler::pipeline::header(&bytes).unwrap();
    assert_eq!((header.width, header.height), (10, 10));
    let err = imgflex_handler::pipeline::verify(&bytes, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Limits {
                actual: 3_600_000_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn arithmetic_coded_jpegs_are_images() {
    // `cjpeg -arithmetic` of a 64x64 gradient: a legal JPEG coding libjpeg-turbo decodes
    // (mozjpeg-sys is built with `arith_dec`). It used to be a 422.
    let bytes = std::fs::read(fixtures().join("arithmetic.jpg")).unwrap();
    let out = transform(&bytes, &spec("x.jpg", "w=32&fm=png"), &Limits::default()).unwrap();
    assert_eq!((out.width, out.height), (32, 32));
}

#[test]
fn scans_up_to_the_limit_decode() {
    // `scans-2000.jpg` before its last scan was repeated: 100 scans (cjpeg's own maximum),
    // exactly the limit, is an image.
    let bytes = std::fs::read(fixtures().join("progressive-100-scans.jpg")).unwrap();
    let header = imgflex_handler::pipeline::verify(&bytes, &Limits::default()).unwrap();
    assert_eq!((header.width, header.height), (64, 64));
    let hostile = std::fs::read(fixtures().join("hostile/scans-2000.jpg")).unwrap();
    let err = imgflex_handler::pipeline::verify(&hostile, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Limits {
                what: "number of JPEG scans",
                actual: 101,
                limit: 100
            }
        ),
        "{err}"
    );
}

#[test]
fn limits_are_configurable_and_checked_first() {
    let bytes = std::fs::read(fixtures().join("golden/rocket-w300.sharp.jpg")).unwrap();
    let s = spec("x.jpg", "w=100&fm=jpeg");
    let tight = Limits {
        max_source_bytes: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        transform(&bytes, &s, &tight),
        Err(PipelineError::Limits {
            what: "source size in bytes",
            ..
        })
    ));
    let tight = Limits {
        max_source_pixels: 300 * 200 - 1,
        ..Limits::default()
    };
    assert!(matches!(
        transform(&bytes, &s, &tight),
        Err(PipelineError::Limits {
            what: "source size in pixels",
            ..
        })
    ));
    let big = spec("x.jpg", "w=4000&h=4000&fit=contain&fm=jpeg");
    let tight = Limits {
        max_output_pixels: 4000 * 4000 - 1,
        ..Limits::default()
    };
    assert!(matches!(
        transform(&bytes, &big, &tight),
        Err(PipelineError::Limits {
            what: "output size in pixels",
            ..
        })
    ));
}

/// Peak signal-to-noise ratio over the colour channels, alpha-weighted against white so a
/// transparent pixel's colour (which nobody sees) does not count.
fn psnr(a: &Pixels, b: &Pixels) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let rgb = |p: &Pixels, i: usize| -> [f64; 3] {
        let c = p.channels as usize;
        let px = &p.data[i * c..(i + 1) * c];
        let (r, g, b) = if c >= 3 {
            (px[0], px[1], px[2])
        } else {
            (px[0], px[0], px[0])
        };
        let alpha = if c == 4 {
            f64::from(px[3]) / 255.0
        } else {
            1.0
        };
        [r, g, b].map(|v| f64::from(v) * alpha + 255.0 * (1.0 - alpha))
    };
    let n = a.width as usize * a.height as usize;
    let mse = (0..n)
        .map(|i| {
            let (x, y) = (rgb(a, i), rgb(b, i));
            (0..3).map(|k| (x[k] - y[k]).powi(2)).sum::<f64>()
        })
        .sum::<f64>()
        / (n * 3) as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

#[test]
fn outputs_match_sharps_within_tolerance() {
    let limits = Limits::default();
    // (corpus image, query, sharp's output of the same op, minimum PSNR in dB)
    let cases = [
        // Adobe RGB source: converted to sRGB, as sharp does.
        (
            "rocket-640x427.jpg",
            "w=300&fm=jpeg&q=80",
            "rocket-w300.sharp.jpg",
            30.0,
        ),
        (
            "astronaut-512x512.png",
            "w=128&fm=png",
            "astronaut-w128.sharp.png",
            32.0,
        ),
        // Real transparency: resized with premultiplied alpha, cropped from the top.
        (
            "anemone-600x520.png",
            "w=200&h=200&g=north&fm=png",
            "anemone-200x200-north.sharp.png",
            30.0,
        ),
        (
            "cups-2560x1600.jpg",
            "w=400&h=300&fm=webp&q=75",
            "cups-400x300.sharp.webp",
            30.0,
        ),
    ];
    for (image, query, golden, min_psnr) in cases {
        let bytes = std::fs::read(test_image(image)).unwrap();
        let ours = transform(&bytes, &spec(image, query), &limits).unwrap();
        let ours = decode_full(&ours.bytes, &limits).unwrap();
        let theirs = decode_full(
            &std::fs::read(fixtures().join("golden").join(golden)).unwrap(),
            &limits,
        )
        .unwrap();
        assert_eq!(
            (ours.width, ours.height),
            (theirs.width, theirs.height),
            "{image} {query}"
        );
        let p = psnr(&ours, &theirs);
        assert!(
            p >= min_psnr,
            "{image} {query}: PSNR {p:.1} dB against sharp, want >= {min_psnr}"
        );
    }
}

#[test]
fn exif_orientation_is_applied() {
    let limits = Limits::default();
    // The 300x200 rocket thumbnail with an EXIF orientation of 6 (rotate 90° clockwise)
    // inserted: displayed, it is 200 wide and 300 tall.
    let bytes = std::fs::read(fixtures().join("rotated-exif6.jpg")).unwrap();
    let out = transform(&bytes, &spec("x.jpg", "w=100&fm=png"), &limits).unwrap();
    assert_eq!((out.width, out.height), (100, 150));
    // And the pixels turned: the rotated output matches the unrotated source turned by hand.
    let plain = decode_full(
        &std::fs::read(fixtures().join("golden/rocket-w300.sharp.jpg")).unwrap(),
        &limits,
    )
    .unwrap();
    let turned = decode_full(&bytes, &limits).unwrap();
    assert_eq!((turned.width, turned.height), (200, 300));
    let (w, c) = (plain.width as usize, plain.channels as usize);
    // Orientation 6: the stored image's bottom-left pixel is displayed at the top-left.
    let bottom_left = &plain.data[(199 * w) * c..(199 * w) * c + c];
    assert_eq!(&turned.data[..c], bottom_left);
}

#[test]
fn cover_crops_where_gravity_says() {
    let limits = Limits::default();
    let bytes = std::fs::read(test_image("cups-2560x1600.jpg")).unwrap();
    let full = decode_full(&bytes, &limits).unwrap();
    // A 100x100 crop from a 160x100 resize: west keeps the left edge, east the right.
    let west = transform(&bytes, &spec("x.jpg", "w=100&h=100&g=west&fm=png"), &limits).unwrap();
    let east = transform(&bytes, &spec("x.jpg", "w=100&h=100&g=east&fm=png"), &limits).unwrap();
    let reference = transform(&bytes, &spec("x.jpg", "w=160&h=100&fm=png"), &limits).unwrap();
    let [west, east, reference] =
        [west, east, reference].map(|o| decode_full(&o.bytes, &limits).unwrap());
    let column = |p: &Pixels, x: usize| -> Vec<u8> {
        (0..p.height as usize)
            .flat_map(|y| p.data[(y * p.width as usize + x) * 3..][..3].to_vec())
            .collect()
    };
    let close = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 24);
    assert!(close(&column(&west, 0), &column(&reference, 0)));
    assert!(close(&column(&east, 99), &column(&reference, 159)));
    assert_eq!(full.width, 2560);
}

#[test]
fn avif_outputs_past_4k_are_refused_before_any_work() {
    // A 4096x4096 AVIF took 26 s on one core at the fastest speed, near the Lambda's 28 s
    // timeout: the policy's sizes allow it, this limit does not (and is checked before the
    // source is decoded).
    let bytes = std::fs::read(fixtures().join("golden/rocket-w300.sharp.jpg")).unwrap();
    let limits = Limits::default();
    let err = transform(
        &bytes,
        &spec("x.jpg", "w=4096&h=2304&fit=fill&enlarge=1&fm=avif"),
        &limits,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Limits {
                what: "AVIF output size in pixels",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status(), 413);
    assert_eq!(imgflex_handler::pipeline::avif_speed(3840 * 2160), 10);
    assert_eq!(imgflex_handler::pipeline::avif_speed(800 * 600), 6);
}

#[test]
fn a_grey_photo_letterboxed_in_a_colour_gets_that_colour() {
    // A greyscale JPEG (one channel all the way through the pipeline) into a square with
    // blue bars: the bars are blue, not the background's red channel (0) as black.
    let bytes = std::fs::read(test_image("grey-2560x1600.jpg")).unwrap();
    let out = transform(
        &bytes,
        &spec("grey.jpg", "w=200&h=200&fit=contain&bg=0000ff&fm=png"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((out.width, out.height), (200, 200));
    let px = decode_full(&out.bytes, &Limits::default()).unwrap();
    assert!(px.channels >= 3, "{} channels", px.channels);
    let c = px.channels as usize;
    // The top-left corner is in the bar (the photo is wider than tall).
    assert_eq!(&px.data[..3], &[0, 0, 255]);
    // The middle is the photo, still grey.
    let mid = (100 * 200 + 100) * c;
    let (r, g, b) = (px.data[mid], px.data[mid + 1], px.data[mid + 2]);
    assert!(r == g && g == b, "({r}, {g}, {b})");
}

#[test]
fn a_gif_of_ten_thousand_frames_gives_its_first() {
    // Hostile: 10,000 frames of 64x64 (a 40 MP animation in a ~1 MB file, or a looping
    // "video" someone uploaded as an avatar). Only frame 1 is ever decoded, whatever follows
    // it, so the cost is one frame's: frame 1 is red, every later one blue.
    let mut bytes = Vec::new();
    {
        let palette = [255, 0, 0, 0, 0, 255];
        let mut encoder = gif::Encoder::new(&mut bytes, 64, 64, &palette).unwrap();
        for i in 0..10_000 {
            let index = if i == 0 { 0 } else { 1 };
            let frame = gif::Frame {
                width: 64,
                height: 64,
                buffer: std::borrow::Cow::Owned(vec![index; 64 * 64]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
    }
    let out = transform(&bytes, &spec("anim.gif", "w=32&fm=png"), &Limits::default()).unwrap();
    assert_eq!((out.width, out.height), (32, 32));
    let px = decode_full(&out.bytes, &Limits::default()).unwrap();
    assert_eq!(&px.data[..3], &[255, 0, 0], "frame 1, not a later one");
}

/// One frame of a test GIF: a solid rectangle of palette colour `index` at `at`, shown for
/// `delay` hundredths of a second, disposed of as `dispose` says.
struct GifFrame {
    size: (u16, u16),
    at: (u16, u16),
    index: u8,
    delay: u16,
    dispose: gif::DisposalMethod,
}

/// A GIF of `screen` with palette red, blue, green, and index 3 transparent.
fn gif_of(screen: (u16, u16), repeat: Option<gif::Repeat>, frames: &[GifFrame]) -> Vec<u8> {
    let palette = [255, 0, 0, 0, 0, 255, 0, 255, 0, 0, 0, 0];
    let mut bytes = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut bytes, screen.0, screen.1, &palette).unwrap();
        if let Some(repeat) = repeat {
            encoder.set_repeat(repeat).unwrap();
        }
        for f in frames {
            let frame = gif::Frame {
                width: f.size.0,
                height: f.size.1,
                left: f.at.0,
                top: f.at.1,
                delay: f.delay,
                dispose: f.dispose,
                transparent: Some(3),
                buffer: std::borrow::Cow::Owned(vec![
                    f.index;
                    usize::from(f.size.0) * usize::from(f.size.1)
                ]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
    }
    bytes
}

/// The RGBA of the pixel at `(x, y)` of a canvas.
fn rgba_at(px: &Pixels, x: u32, y: u32) -> [u8; 4] {
    let c = usize::from(px.channels);
    let i = (y as usize * px.width as usize + x as usize) * c;
    let p = &px.data[i..i + c];
    match c {
        4 => [p[0], p[1], p[2], p[3]],
        3 => [p[0], p[1], p[2], 255],
        _ => [p[0], p[0], p[0], 255],
    }
}

fn near(got: [u8; 4], want: [u8; 4], tolerance: u8) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| g.abs_diff(w) <= tolerance)
}

/// Red on 160x120; then a blue 40x40 at (16, 16) that is cleared when it is done; then a
/// green 40x40 at (96, 56) over what is left. Delays 100 ms, 200 ms and 0 (shown as 100 ms).
fn three_frame_gif(repeat: Option<gif::Repeat>) -> Vec<u8> {
    use gif::DisposalMethod::{Background, Keep};
    gif_of(
        (160, 120),
        repeat,
        &[
            GifFrame {
                size: (160, 120),
                at: (0, 0),
                index: 0,
                delay: 10,
                dispose: Keep,
            },
            GifFrame {
                size: (40, 40),
                at: (16, 16),
                index: 1,
                delay: 20,
                dispose: Background,
            },
            GifFrame {
                size: (40, 40),
                at: (96, 56),
                index: 2,
                delay: 0,
                dispose: Keep,
            },
        ],
    )
}

#[test]
fn anim_1_keeps_a_gifs_frames_timing_disposal_and_loop() {
    let limits = Limits::default();
    let gif = three_frame_gif(Some(gif::Repeat::Infinite));
    let s = spec("clip.gif", "w=80&anim=1&fm=webp");
    assert!(s.animate);
    let out = transform(&gif, &s, &limits).unwrap();
    assert_eq!((out.width, out.height, out.frames), (80, 60, 3));
    assert_eq!(out.format, imgflex_core::Format::Webp);
    let anim = decode_animation(&out.bytes, &limits)
        .unwrap()
        .expect("an animated WebP");
    assert_eq!(anim.loop_count, 0, "NETSCAPE 0 loops forever");
    let durations: Vec<u32> = anim.frames.iter().map(|(_, d)| *d).collect();
    assert_eq!(
        durations,
        [100, 200, 100],
        "a 0 delay shows for 100 ms, as in browsers"
    );
    let red = [255, 0, 0, 255];
    let (f1, f2, f3) = (&anim.frames[0].0, &anim.frames[1].0, &anim.frames[2].0);
    assert_eq!((f1.width, f1.height), (80, 60));
    // Lossy frames at half size (4:2:0 blurs colour edges): colours within a tolerance, sampled away from the edges.
    assert!(
        near(rgba_at(f1, 18, 18), red, 40),
        "{:?}",
        rgba_at(f1, 18, 18)
    );
    assert!(
        near(rgba_at(f2, 18, 18), [0, 0, 255, 255], 40),
        "{:?}",
        rgba_at(f2, 18, 18)
    );
    assert!(
        near(rgba_at(f2, 60, 10), red, 40),
        "frame 1 shows through frame 2"
    );
    // Frame 2 is disposed to the background: transparent where it was, red elsewhere.
    assert!(rgba_at(f3, 18, 18)[3] < 40, "{:?}", rgba_at(f3, 18, 18));
    assert!(
        near(rgba_at(f3, 58, 38), [0, 255, 0, 255], 40),
        "{:?}",
        rgba_at(f3, 58, 38)
    );
    assert!(
        near(rgba_at(f3, 60, 10), red, 40),
        "{:?}",
        rgba_at(f3, 60, 10)
    );

    // Without a NETSCAPE extension a GIF plays once; with `n` repeats, n + 1 times.
    for (repeat, plays) in [(None, 1), (Some(gif::Repeat::Finite(2)), 3)] {
        let out = transform(&three_frame_gif(repeat), &s, &limits).unwrap();
        let anim = decode_animation(&out.bytes, &limits).unwrap().unwrap();
        assert_eq!(anim.loop_count, plays, "{repeat:?}");
    }
}

#[test]
fn anim_1_on_an_animated_webp_and_on_stills() {
    let limits = Limits::default();
    let gif = three_frame_gif(Some(gif::Repeat::Infinite));
    let webp = transform(&gif, &spec("clip.gif", "anim=1&fm=webp&q=90"), &limits).unwrap();
    assert_eq!((webp.width, webp.height, webp.frames), (160, 120, 3));
    // An animated WebP in: every frame out, resized, as a cover crop.
    let out = transform(
        &webp.bytes,
        &spec("clip.webp", "w=80&h=80&anim=1&fm=webp"),
        &limits,
    )
    .unwrap();
    assert_eq!((out.width, out.height, out.frames), (80, 80, 3));
    let anim = decode_animation(&out.bytes, &limits).unwrap().unwrap();
    assert_eq!(
        anim.frames.iter().map(|(_, d)| *d).collect::<Vec<_>>(),
        [100, 200, 100]
    );
    assert!(
        near(rgba_at(&anim.frames[1].0, 10, 24), [0, 0, 255, 255], 50),
        "{:?}",
        rgba_at(&anim.frames[1].0, 10, 24)
    );
    // Without `anim=1` the same file gives its first frame, a still.
    let still = transform(&webp.bytes, &spec("clip.webp", "w=80&fm=webp"), &limits).unwrap();
    assert_eq!(still.frames, 1);
    assert!(decode_animation(&still.bytes, &limits).unwrap().is_none());
    // `anim=1` on a still source is a still: nothing to animate.
    let jpeg = std::fs::read(test_image("cups-2560x1600.jpg")).unwrap();
    let out = transform(&jpeg, &spec("cups.jpg", "w=100&anim=1&fm=webp"), &limits).unwrap();
    assert_eq!((out.width, out.frames), (100, 1));
    assert!(decode_animation(&out.bytes, &limits).unwrap().is_none());
    // And on a format that cannot animate the key has no `a1`: the first frame, as a PNG.
    let s = spec("clip.gif", "w=80&anim=1&fm=png");
    assert!(!s.animate);
    let out = transform(&gif, &s, &limits).unwrap();
    assert_eq!((out.width, out.height, out.frames), (80, 60, 1));
}

#[test]
fn frames_libwebp_folds_together_are_not_counted_twice() {
    use gif::DisposalMethod::Keep;
    let limits = Limits::default();
    let frame = |index, delay| GifFrame {
        size: (40, 40),
        at: (0, 0),
        index,
        delay,
        dispose: Keep,
    };
    // Red, red again (a GIF repeats a frame to hold it: the canvas does not change), blue.
    // libwebp folds the repeat into the first frame's duration, so the file holds two frames
    // of 300 ms and 300 ms, and the output says two.
    let gif = gif_of((40, 40), None, &[frame(0, 10), frame(0, 20), frame(1, 30)]);
    let out = transform(&gif, &spec("hold.gif", "anim=1&fm=webp"), &limits).unwrap();
    let anim = decode_animation(&out.bytes, &limits).unwrap().unwrap();
    let durations: Vec<u32> = anim.frames.iter().map(|(_, d)| *d).collect();
    assert_eq!(durations, [300, 300]);
    assert_eq!(out.frames, 2);
    // Every frame the same: what is left is one frame, which libwebp writes as a still.
    let gif = gif_of((40, 40), None, &[frame(2, 10), frame(2, 10)]);
    let out = transform(&gif, &spec("same.gif", "anim=1&fm=webp"), &limits).unwrap();
    assert_eq!(out.frames, 1);
    assert!(decode_animation(&out.bytes, &limits).unwrap().is_none());
}

#[test]
fn hostile_animations_are_refused_from_their_headers() {
    // Hostile: the 10,000-frame GIF again, now asked to stay animated. Each frame costs the
    // encoder a fixed amount however small it is, so the frame count is refused (413) from
    // the frame headers, counted without decompressing a frame, before any is decoded.
    let frame = GifFrame {
        size: (64, 64),
        at: (0, 0),
        index: 1,
        delay: 4,
        dispose: gif::DisposalMethod::Keep,
    };
    let many: Vec<GifFrame> = (0..10_000).map(|_| GifFrame { ..frame }).collect();
    let bytes = gif_of((64, 64), None, &many);
    let s = spec("anim.gif", "w=32&anim=1&fm=webp");
    assert!(
        matches!(
            transform(&bytes, &s, &Limits::default()),
            Err(PipelineError::Limits {
                what: "animation's frame count",
                actual: 1_001,
                limit: 1_000
            })
        ),
        "counting stops one past the limit"
    );

    // Hostile: few frames, each large (a screen recording as a GIF): frames x pixels is
    // refused before decoding. 30 frames of 64x64 are 122,880 pixels.
    let thirty: Vec<GifFrame> = (0..30).map(|_| GifFrame { ..frame }).collect();
    let bytes = gif_of((64, 64), None, &thirty);
    let tight = Limits {
        max_animation_pixels: 100_000,
        ..Limits::default()
    };
    assert!(matches!(
        transform(&bytes, &s, &tight),
        Err(PipelineError::Limits {
            what: "animation's size in pixels (frames x pixels)",
            actual: 122_880,
            ..
        })
    ));
    // An enlarged output counts its own size when that is the larger: 30 x 128x128.
    let s2 = spec("anim.gif", "w=128&enlarge=1&anim=1&fm=webp");
    let tight = Limits {
        max_animation_pixels: 30 * 128 * 128 - 1,
        ..Limits::default()
    };
    assert!(matches!(
        transform(&bytes, &s2, &tight),
        Err(PipelineError::Limits {
            actual: 491_520,
            ..
        })
    ));
    // Under the default limits the file is served. Its thirty frames are the same picture,
    // which libwebp folds into one: the output is that one, as a still.
    let out = transform(&bytes, &s, &Limits::default()).unwrap();
    assert_eq!(out.frames, 1);
    assert!(
        decode_animation(&out.bytes, &Limits::default())
            .unwrap()
            .is_none()
    );

    // Hostile: an upload cut off in its third frame. The still (frame 1) is whole; the
    // animation is refused as corrupt (422), not served short.
    let gif = three_frame_gif(None);
    let cut = &gif[..gif.len() - 20];
    let still = transform(cut, &spec("clip.gif", "w=20&fm=webp"), &Limits::default());
    assert!(still.is_ok(), "{still:?}");
    let err = transform(
        cut,
        &spec("clip.gif", "w=20&anim=1&fm=webp"),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 422, "{err}");
    // And an animated WebP cut short: refused, whichever way it is asked for.
    let webp = transform(
        &gif,
        &spec("clip.gif", "anim=1&fm=webp"),
        &Limits::default(),
    )
    .unwrap()
    .bytes;
    let cut = &webp[..webp.len() * 3 / 4];
    let err = transform(
        cut,
        &spec("clip.webp", "w=20&anim=1&fm=webp"),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 422, "{err}");
}

#[test]
fn a_gif_frame_off_its_screen_is_dropped_not_a_panic() {
    // Hostile: a frame placed wholly to the right of a 64x64 screen (left 100), disposed of
    // to the background. A GIF's frame offsets are not bounded by its screen, and clearing
    // the frame's rectangle once ran the range backwards (start 100, end 64): a panic on a
    // valid file. The frame paints nothing and clears nothing; the red stays.
    let frames = [
        GifFrame {
            size: (64, 64),
            at: (0, 0),
            index: 0,
            delay: 5,
            dispose: gif::DisposalMethod::Keep,
        },
        GifFrame {
            size: (16, 16),
            at: (100, 8),
            index: 1,
            delay: 5,
            dispose: gif::DisposalMethod::Background,
        },
        GifFrame {
            size: (8, 8),
            at: (60, 60),
            index: 2,
            delay: 5,
            dispose: gif::DisposalMethod::Background,
        },
    ];
    let bytes = gif_of((64, 64), None, &frames);
    let limits = Limits::default();
    let out = transform(&bytes, &spec("off.gif", "anim=1&fm=webp&q=100"), &limits).unwrap();
    assert_eq!((out.width, out.height), (64, 64));
    let anim = decode_animation(&out.bytes, &limits).unwrap().unwrap();
    assert_eq!(
        out.frames as usize,
        anim.frames.len(),
        "the frames the file holds"
    );
    let at = |frame: usize, x: usize, y: usize| {
        let px = &anim.frames[frame].0;
        let i = (y * px.width as usize + x) * px.channels as usize;
        px.data[i..i + 3].to_vec()
    };
    // Frame 2 (off the screen) leaves frame 1's red everywhere. libwebp's encoder merges a
    // frame identical to the one before into it, so the file may hold two frames: every one
    // is red there, and together they still last 150 ms.
    let total: u32 = anim.frames.iter().map(|(_, ms)| ms).sum();
    assert_eq!(total, 150);
    for frame in 0..anim.frames.len() {
        let red = at(frame, 40, 16);
        assert!(red[0] > 200 && red[2] < 60, "frame {frame}: {red:?}");
    }
    // Frame 3 hangs over the bottom-right corner: only its on-screen 4x4 is painted green.
    let last = anim.frames.len() - 1;
    let g = at(last, 62, 62);
    assert!(g[1] > 200 && g[0] < 60, "{g:?}");
    let r = at(last, 58, 58);
    assert!(r[0] > 200 && r[1] < 60, "{r:?}");
    // The still of the same file is frame 1, whole.
    let still = transform(&bytes, &spec("off.gif", "fm=png"), &limits).unwrap();
    assert_eq!((still.width, still.frames), (64, 1));
}

#[test]
fn smart_crop_chooses_the_window_sharp_does() {
    // wine is a portrait: a 400x300 cover keeps a band of the 400x600 resized image. The
    // centre band cuts through the glass; libvips' attention (sharp 0.35.5,
    // `position: 'attention'`, its output the golden file) keeps the top, at y = 18.
    let limits = Limits::default();
    let bytes = std::fs::read(test_image("wine-2560x3837.jpg")).unwrap();
    let ours = transform(
        &bytes,
        &spec("wine.jpg", "w=400&h=300&g=auto&fm=webp&q=90"),
        &limits,
    )
    .unwrap();
    assert_eq!(
        (ours.width, ours.height, ours.format),
        (400, 300, imgflex_core::Format::Webp)
    );
    let window = ours.window.expect("g=auto reports its window");
    assert_eq!((window.x, window.width, window.height), (0, 400, 300));
    // One cell of libvips' 32-row grid is 600 / 32 = 19 rows: within that of sharp's 18.
    assert!(window.y.abs_diff(18) <= 19, "window at y {}", window.y);
    let golden = decode_full(
        &std::fs::read(fixtures().join("golden/wine-400x300-attention.sharp.webp")).unwrap(),
        &limits,
    )
    .unwrap();
    let p = psnr(&decode_full(&ours.bytes, &limits).unwrap(), &golden);
    assert!(p >= 30.0, "PSNR {p:.1} dB against sharp's attention crop");
    // The centre crop is a different picture: the test could not pass by cropping centred.
    let centred = transform(
        &bytes,
        &spec("wine.jpg", "w=400&h=300&fm=webp&q=90"),
        &limits,
    )
    .unwrap();
    assert!(centred.window.is_none());
    let p = psnr(&decode_full(&centred.bytes, &limits).unwrap(), &golden);
    assert!(
        p < 20.0,
        "the centre crop is {p:.1} dB from the attention crop"
    );
}

// ------------------------------------------------------------------------------- AVIF

/// An AVIF fixture (`tests/fixtures/avif`, its README says how each was made) and the PNG
/// it was encoded from.
fn avif(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("avif").join(name)).unwrap()
}

fn mean_abs_diff(a: &Pixels, b: &Pixels) -> f64 {
    assert_eq!(
        (a.width, a.height, a.channels),
        (b.width, b.height, b.channels)
    );
    let sum: u64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.data.len() as f64
}

#[test]
fn avif_originals_decode_to_the_pixels_they_were_encoded_from() {
    let limits = Limits::default();
    // Each was made by libavif's avifenc from the PNG beside it at quantizer 8-12. The floor
    // is 1.5 dB under what libavif 0.11.1 itself (avifdec, dav1d) decodes each to against
    // that PNG (in brackets): a wrong matrix (BT.709 for 601), range (limited read as full)
    // or bit depth costs 10-20 dB.
    let cases = [
        ("rocket-240x160-420.avif", "rocket.png", 3, 32.6), // [34.1]
        ("rocket-240x160-444-10bit.avif", "rocket.png", 3, 41.9), // [43.4]
        (
            "rocket-240x160-422-12bit-limited.avif",
            "rocket.png",
            3,
            34.2,
        ), // [35.7]
        ("anemone-150x130-alpha.avif", "anemone.png", 4, 35.5), // [37.0]
        ("anemone-150x130-premultiplied.avif", "anemone.png", 4, 33.6), // [35.1]
        ("grey-160x100-400.avif", "grey.png", 1, 43.5),     // [45.0]
    ];
    for (file, source, channels, floor) in cases {
        let ours = decode_full(&avif(file), &limits).unwrap();
        let want = decode_full(&avif(source), &limits).unwrap();
        assert_eq!(ours.channels, channels, "{file}");
        // Composited on white: a premultiplied file cannot keep the colour of pixels it
        // multiplied by an alpha near zero, and nobody sees them.
        let p = psnr(&ours, &want);
        assert!(p > floor, "{file}: PSNR {p:.1} dB against {source}");
        if channels == 4 {
            let alpha = |px: &Pixels| {
                px.data
                    .iter()
                    .skip(3)
                    .step_by(4)
                    .copied()
                    .collect::<Vec<u8>>()
            };
            let a = Pixels::new(ours.width, ours.height, 1, alpha(&ours));
            let b = Pixels::new(want.width, want.height, 1, alpha(&want));
            let d = mean_abs_diff(&a, &b);
            assert!(d < 2.0, "{file}: alpha {d:.2} levels from {source}'s");
        }
    }
}

#[test]
fn avif_irot_and_imir_are_applied() {
    let limits = Limits::default();
    let source = decode_full(&avif("rocket.png"), &limits).unwrap();
    let (w, h) = (source.width as usize, source.height as usize);
    // Display (x, y) to stored (x, y), as libheif (sharp) displays these files: checked
    // against sharp 0.35.5 when the fixtures were made (mean difference 2.56 levels each).
    type Map = fn(usize, usize, usize, usize) -> (usize, usize);
    let cases: [(&str, (usize, usize), Map); 3] = [
        // A quarter turn anticlockwise, then top and bottom exchanged: a transpose (EXIF 5).
        ("rocket-240x160-irot1-imir0.avif", (h, w), |x, y, _, _| {
            (y, x)
        }),
        // Three quarter turns anticlockwise: 90° clockwise (EXIF 6).
        ("rocket-240x160-irot3.avif", (h, w), |x, y, _, h| {
            (y, h - 1 - x)
        }),
        // Left and right exchanged (EXIF 2).
        ("rocket-240x160-imir1.avif", (w, h), |x, y, w, _| {
            (w - 1 - x, y)
        }),
    ];
    for (file, (dw, dh), map) in cases {
        let bytes = avif(file);
        let header = imgflex_handler::pipeline::header(&bytes).unwrap();
        assert_eq!(header.displayed(), (dw as u32, dh as u32), "{file}");
        let ours = decode_full(&bytes, &limits).unwrap();
        let mut want = vec![0u8; dw * dh * 3];
        for y in 0..dh {
            for x in 0..dw {
                let (sx, sy) = map(x, y, w, h);
                let at = (sy * w + sx) * 3;
                want[(y * dw + x) * 3..][..3].copy_from_slice(&source.data[at..at + 3]);
            }
        }
        let want = Pixels::new(dw as u32, dh as u32, 3, want);
        let d = mean_abs_diff(&ours, &want);
        assert!(d < 3.0, "{file}: mean difference {d:.2} levels");
        // And through a transform: the displayed size is what `w` scales.
        let out = transform(&bytes, &spec("x.avif", "w=80&fm=png"), &limits).unwrap();
        assert_eq!(
            (out.width, out.height),
            (80, (80 * dh / dw) as u32),
            "{file}"
        );
    }
}

#[test]
fn avif_display_p3_is_converted_to_srgb() {
    let limits = Limits::default();
    // The same pixels, tagged (CICP 12/13/6) as Display P3: read as P3 and converted, the
    // colours come out more saturated than the untagged file's; the rocket's orange sky
    // gains red. Nothing is converted for the sRGB-tagged file (above, within 3 levels).
    let srgb = decode_full(&avif("rocket-240x160-420.avif"), &limits).unwrap();
    let p3 = decode_full(&avif("rocket-240x160-p3.avif"), &limits).unwrap();
    let d = mean_abs_diff(&srgb, &p3);
    assert!(d > 3.0, "P3 read as sRGB: mean difference {d:.2}");
    let saturation = |p: &Pixels| -> f64 {
        p.data
            .chunks_exact(3)
            .map(|c| f64::from(*c.iter().max().unwrap() - *c.iter().min().unwrap()))
            .sum::<f64>()
    };
    assert!(saturation(&p3) > saturation(&srgb) * 1.05);
}

#[test]
fn an_avif_cut_or_damaged_anywhere_is_an_error_never_a_panic() {
    let limits = Limits::default();
    let s = spec("x.avif", "w=60&fm=png");
    // Cut at every 37th byte (the container, the colour item, the alpha item), then with
    // one byte flipped at every 11th: each is refused or decodes, and nothing panics or
    // aborts. This is the test that found rav1d's abort on a corrupt frame with one frame
    // context (avif.rs, `Decoder::new`): before the fix the test binary died here.
    for file in [
        "anemone-150x130-alpha.avif",
        "rocket-240x160-444-10bit.avif",
    ] {
        let bytes = avif(file);
        for cut in (0..bytes.len()).step_by(37) {
            assert!(
                transform(&bytes[..cut], &s, &limits).is_err(),
                "{file} cut at {cut}"
            );
        }
        for at in (0..bytes.len()).step_by(11) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5A;
            if let Err(e) = transform(&damaged, &s, &limits) {
                assert!(
                    matches!(e.status(), 413 | 415 | 422),
                    "{file} byte {at}: {e}"
                );
            }
        }
    }
}

#[test]
fn a_jpeg_kept_at_its_size_changes_quality_not_colours() {
    // With no pixel moved, a 4:2:0 or grey JPEG's coefficients are requantised, and
    // another plain YCbCr one goes from the decoder's planes straight to the encoder. Each
    // case must come out as the full decode (oriented, in sRGB) re-encoded: a file with a
    // profile or a turned one takes the RGB route, and a colour model or a table mixed up
    // on any route would fall far below these PSNRs.
    let limits = Limits::default();
    // (file, query, displayed size, channels out, minimum PSNR against the full decode)
    let cases = [
        // Plain YCbCr 4:2:0, progressive, no profile: the coefficients, with and without
        // a width.
        (
            test_image("wine-2560x3837.jpg"),
            "fm=jpeg&q=90",
            (2560, 3837),
            3,
            38.0,
        ),
        (
            test_image("wine-2560x3837.jpg"),
            "w=2560&fm=jpeg&q=82",
            (2560, 3837),
            3,
            35.0,
        ),
        (
            test_image("cups-2560x1600.jpg"),
            "fm=jpeg&q=90",
            (2560, 1600),
            3,
            38.0,
        ),
        // Adobe RGB: converted to sRGB on the way, so through pixels (32 dB: a grainy
        // photo; its coefficients kept with the profile ignored, it falls to 28).
        (
            test_image("rocket-640x427.jpg"),
            "fm=jpeg&q=90",
            (640, 427),
            3,
            30.0,
        ),
        // Grey stays grey (its one component's coefficients, requantised).
        (
            test_image("grey-2560x1600.jpg"),
            "fm=jpeg&q=90",
            (2560, 1600),
            1,
            38.0,
        ),
        // EXIF 6: turned, so every pixel moves.
        (
            fixtures().join("rotated-exif6.jpg"),
            "fm=jpeg&q=90",
            (200, 300),
            3,
            38.0,
        ),
    ];
    for (file, query, size, channels, min_psnr) in cases {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let out = transform(&bytes, &spec(&name, query), &limits).unwrap();
        assert_eq!((out.width, out.height), size, "{name} {query}");
        let got = decode_full(&out.bytes, &limits).unwrap();
        let want = decode_full(&bytes, &limits).unwrap();
        assert_eq!(got.channels, channels, "{name} {query}");
        let p = psnr(&got, &want);
        assert!(
            p >= min_psnr,
            "{name} {query}: PSNR {p:.1} dB against the full decode, want >= {min_psnr}"
        );
    }
}
