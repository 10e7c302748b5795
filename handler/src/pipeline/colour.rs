//! Colour management: whether an embedded profile already is sRGB (decided from its data),
//! conversion to sRGB (RGB profiles through moxcms, grey profiles by their tone curve), and
//! CMYK/YCCK JPEGs to RGB, inverted or not as their Adobe marker says.

use moxcms::{ColorProfile, DataColorSpace, Layout, ToneReprCurve, TransformOptions};

use super::pixels::Pixels;

/// How far a profile's colorants (D50-adapted XYZ) may stray from sRGB's and still be sRGB.
/// Published sRGB profiles (HP's of 1998, Little CMS's, Apple's, the browsers') agree to
/// ~1e-3; 0.002 of full scale moves no 8-bit channel by more than half a level.
const COLORANT_TOLERANCE: f64 = 0.002;

/// How far (in 8-bit levels) a tone curve may move a level from where sRGB's puts it.
/// Curves written as a 1024-entry table instead of sRGB's formula stay well under this;
/// a pure 2.2 gamma moves the dark levels by 7.
const TRC_TOLERANCE_LEVELS: f32 = 0.5;

/// Whether converting pixels under this profile to sRGB would change nothing: an RGB
/// matrix/shaper profile with sRGB's colorants and tone curves, or a grey profile with
/// sRGB's tone curve. Decided from the profile's data, not its name: a Display P3 profile
/// whose copyright mentions sRGB is still P3, and an sRGB profile called "c2" still sRGB.
/// A profile moxcms cannot read is not sRGB (conversion then leaves the pixels as they are).
pub fn is_srgb(icc: &[u8]) -> bool {
    let Ok(p) = ColorProfile::new_from_slice(icc) else {
        return false;
    };
    let srgb = ColorProfile::new_srgb();
    match p.color_space {
        DataColorSpace::Rgb => {
            // A profile with lookup tables is converted through them, whatever its
            // colorants say: only a plain matrix/shaper can be judged by them.
            let luts = p.lut_a_to_b_perceptual.is_some()
                || p.lut_a_to_b_colorimetric.is_some()
                || p.lut_a_to_b_saturation.is_some();
            let (m, s) = (p.colorant_matrix().v, srgb.colorant_matrix().v);
            let colorants = m
                .iter()
                .flatten()
                .zip(s.iter().flatten())
                .all(|(a, b)| (a - b).abs() <= COLORANT_TOLERANCE);
            p.is_matrix_shaper()
                && !luts
                && colorants
                && [&p.red_trc, &p.green_trc, &p.blue_trc]
                    .into_iter()
                    .all(|trc| srgb_levels(&p, trc).is_some_and(is_identity))
        }
        DataColorSpace::Gray => srgb_levels(&p, &p.gray_trc).is_some_and(is_identity),
        _ => false,
    }
}

/// Where each 8-bit level under `trc` lands in sRGB's encoding (fractional levels).
fn srgb_levels(p: &ColorProfile, trc: &Option<ToneReprCurve>) -> Option<[f32; 256]> {
    let linear = p.build_8bit_lin_table(trc).ok()?;
    let mut levels = [0f32; 256];
    for (out, lin) in levels.iter_mut().zip(linear.iter()) {
        *out = srgb_encode(*lin) * 255.0;
    }
    Some(levels)
}

fn is_identity(levels: [f32; 256]) -> bool {
    levels
        .iter()
        .enumerate()
        .all(|(v, l)| (l - v as f32).abs() <= TRC_TOLERANCE_LEVELS)
}

/// sRGB's transfer function, linear light to encoded (IEC 61966-2-1).
fn srgb_encode(linear: f32) -> f32 {
    let l = linear.clamp(0.0, 1.0);
    if l <= 0.003_130_8 {
        12.92 * l
    } else {
        1.055 * l.powf(1.0 / 2.4) - 0.055
    }
}

/// Converts pixels described by an embedded ICC profile to sRGB. Run on the resized image,
/// where it is cheapest. RGB profiles go through moxcms; a grey profile is a tone curve
/// only, applied as a 256-entry table to every colour channel (grey pixels stay one
/// channel; grey-with-alpha PNGs arrive as RGBA). A profile moxcms cannot use, or one that
/// does not fit the pixels (an RGB profile on a grey JPEG), leaves them as they are: a
/// slightly off colour beats a failed request.
pub fn to_srgb(px: &mut Pixels, icc: &[u8]) {
    let Ok(source) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if source.color_space == DataColorSpace::Gray {
        if let Some(levels) = srgb_levels(&source, &source.gray_trc) {
            let table: Vec<u8> = levels.iter().map(|l| l.round() as u8).collect();
            let colour = if px.channels == 4 { 3 } else { px.channels };
            for p in px.data.chunks_exact_mut(px.channels as usize) {
                for c in &mut p[..colour as usize] {
                    *c = table[*c as usize];
                }
            }
        }
        return;
    }
    let layout = match px.channels {
        3 => Layout::Rgb,
        4 => Layout::Rgba,
        _ => return,
    };
    let srgb = ColorProfile::new_srgb();
    if let Ok(t) = source.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    {
        let mut out = vec![0u8; px.data.len()];
        if t.transform(&px.data, &mut out).is_ok() {
            px.data = out;
        }
    }
}

/// CMYK pixels (as libjpeg hands them over, YCCK already turned into CMYK) to RGB, through
/// the embedded profile when moxcms can use it, else the naive formula.
///
/// `inverted`: Adobe's applications write CMYK inverted (255 = no ink) and mark the file
/// with an APP14 "Adobe" segment; a CMYK JPEG without that marker stores ink amounts as
/// they are (libvips and ImageMagick read both that way).
pub fn cmyk_to_rgb(px: Pixels, icc: Option<&[u8]>, inverted: bool) -> Pixels {
    let n = px.width as usize * px.height as usize;
    let mut out = vec![0u8; n * 3];
    // moxcms and the formula below both take ink amounts (0 = none).
    let inks: Vec<u8> = if inverted {
        px.data.iter().map(|v| 255 - v).collect()
    } else {
        px.data
    };
    let profiled = icc
        .and_then(|p| ColorProfile::new_from_slice(p).ok())
        .filter(|p| p.color_space == DataColorSpace::Cmyk)
        .and_then(|src| {
            let srgb = ColorProfile::new_srgb();
            src.create_transform_8bit(
                Layout::Rgba,
                &srgb,
                Layout::Rgb,
                TransformOptions::default(),
            )
            .ok()
        })
        .is_some_and(|t| t.transform(&inks, &mut out).is_ok());
    if !profiled {
        for (o, s) in out.chunks_exact_mut(3).zip(inks.chunks_exact(4)) {
            let k = 255 - u32::from(s[3]);
            for i in 0..3 {
                o[i] = (((255 - u32::from(s[i])) * k + 127) / 255) as u8;
            }
        }
    }
    Pixels::new(px.width, px.height, 3, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(p: &ColorProfile) -> Vec<u8> {
        p.encode().expect("moxcms writes its own profiles")
    }

    #[test]
    fn srgb_is_recognised_by_its_data_not_its_name() {
        // sRGB, whatever it is called.
        let mut srgb = ColorProfile::new_srgb();
        srgb.description = None;
        assert!(is_srgb(&encoded(&srgb)), "an unnamed sRGB profile");
        // Display P3 says "sRGB" in its text (as Apple's own P3 profile's copyright did not,
        // but many exporters' do): it is still P3.
        let mut p3 = ColorProfile::new_display_p3();
        p3.description = Some(moxcms::ProfileText::PlainString(
            "Display P3 (sRGB transfer curve)".into(),
        ));
        let p3 = encoded(&p3);
        // The substring test this replaced (ASCII, or the UTF-16 of `mluc` text) took it
        // for sRGB and skipped the conversion.
        let named_srgb = |icc: &[u8]| {
            icc.windows(4).any(|w| w == b"sRGB") || icc.windows(8).any(|w| w == b"s\0R\0G\0B\0")
        };
        assert!(named_srgb(&p3), "the decoy is in the bytes");
        assert!(!is_srgb(&p3), "P3 primaries");
        // sRGB's primaries with a 2.2 gamma: the dark levels move, so it is converted.
        let mut gamma = ColorProfile::new_srgb();
        let g22 = ToneReprCurve::Lut(vec![(2.2 * 256.0) as u16]);
        gamma.red_trc = Some(g22.clone());
        gamma.green_trc = Some(g22.clone());
        gamma.blue_trc = Some(g22);
        assert!(!is_srgb(&encoded(&gamma)), "gamma 2.2");
        assert!(!is_srgb(b"not a profile"));
    }

    #[test]
    fn grey_profiles_convert_by_their_tone_curve() {
        let g18 = encoded(&ColorProfile::new_gray_with_gamma(1.8));
        assert!(!is_srgb(&g18));
        let mut px = Pixels::new(3, 1, 1, vec![0, 64, 255]);
        to_srgb(&mut px, &g18);
        assert_eq!(px.channels, 1, "grey stays grey");
        // Level 64 under gamma 1.8 is 0.082 linear, which sRGB writes as level 81.
        assert_eq!(px.data[0], 0);
        assert!((80..=82).contains(&px.data[1]), "{}", px.data[1]);
        assert_eq!(px.data[2], 255);
        // Grey with alpha (RGBA here): colour channels move, alpha does not.
        let mut rgba = Pixels::new(1, 1, 4, vec![64, 64, 64, 64]);
        to_srgb(&mut rgba, &g18);
        assert_eq!(rgba.data[3], 64);
        assert_eq!(rgba.data[0], px.data[1]);
        // A grey profile with sRGB's curve is sRGB.
        let mut sgray = ColorProfile::new_gray_with_gamma(1.0);
        sgray.gray_trc = ColorProfile::new_srgb().red_trc;
        assert!(is_srgb(&encoded(&sgray)));
    }

    #[test]
    fn cmyk_inverted_or_not_as_the_marker_says() {
        // Red is M+Y, no C, no K.
        let red_inks = Pixels::new(1, 1, 4, vec![0, 255, 255, 0]);
        assert_eq!(cmyk_to_rgb(red_inks, None, false).data, vec![255, 0, 0]);
        let red_adobe = Pixels::new(1, 1, 4, vec![255, 0, 0, 255]);
        assert_eq!(cmyk_to_rgb(red_adobe, None, true).data, vec![255, 0, 0]);
        // An RGB profile on CMYK pixels is ignored, not misapplied.
        let p3 = encoded(&ColorProfile::new_display_p3());
        let red = Pixels::new(1, 1, 4, vec![0, 255, 255, 0]);
        assert_eq!(cmyk_to_rgb(red, Some(&p3), false).data, vec![255, 0, 0]);
    }
}
