//! Where the pixels go: from the source size and the spec to the resize size, the crop and
//! the canvas. Pure arithmetic, so every fit and gravity is tested here without a codec.

use imgflex_core::{Fit, Gravity, TransformSpec};

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The plan for one image: resize the (oriented) source to `resize`, take `crop` out of
/// that, and place it at `offset` on a `canvas` (larger than the crop only for `contain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub resize: (u32, u32),
    pub crop: Rect,
    pub canvas: (u32, u32),
    pub offset: (u32, u32),
}

impl Plan {
    /// The output size.
    pub fn output(&self) -> (u32, u32) {
        self.canvas
    }

    fn scaled(resize: (u32, u32)) -> Plan {
        Plan {
            resize,
            crop: Rect {
                x: 0,
                y: 0,
                width: resize.0,
                height: resize.1,
            },
            canvas: resize,
            offset: (0, 0),
        }
    }
}

fn round(v: f64) -> u32 {
    (v.round() as u32).max(1)
}

/// Plans the transform of a `source`-sized image (after EXIF orientation).
///
/// Without `enlarge`, the picture is never scaled up: `inside` and one-dimension requests
/// stop at the source size; `cover` and `fill` shrink the requested box (keeping its aspect
/// ratio) until it fits the source, then crop or stretch within it; `contain` keeps the box
/// and letterboxes the unscaled picture.
pub fn plan(source: (u32, u32), spec: &TransformSpec) -> Plan {
    let (sw, sh) = (f64::from(source.0), f64::from(source.1));
    let cap = |scale: f64| if spec.enlarge { scale } else { scale.min(1.0) };
    match (spec.width, spec.height) {
        (None, None) => Plan::scaled(source),
        (Some(w), None) => {
            let s = cap(f64::from(w) / sw);
            Plan::scaled((round(sw * s), round(sh * s)))
        }
        (None, Some(h)) => {
            let s = cap(f64::from(h) / sh);
            Plan::scaled((round(sw * s), round(sh * s)))
        }
        (Some(w), Some(h)) => {
            let (bw, bh) = (f64::from(w), f64::from(h));
            match spec.fit {
                Fit::Inside => {
                    let s = cap((bw / sw).min(bh / sh));
                    Plan::scaled((round(sw * s), round(sh * s)))
                }
                Fit::Fill => {
                    // Shrink the box, not the aspect ratio, when it would need enlarging.
                    let shrink = if spec.enlarge {
                        1.0
                    } else {
                        (sw / bw).min(sh / bh).min(1.0)
                    };
                    Plan::scaled((round(bw * shrink), round(bh * shrink)))
                }
                Fit::Cover => {
                    let s = (bw / sw).max(bh / sh);
                    let (s, box_w, box_h) = if spec.enlarge || s <= 1.0 {
                        (s, w, h)
                    } else {
                        // The box shrinks by the factor it would have had to enlarge.
                        (1.0, round(bw / s), round(bh / s))
                    };
                    let resize = (round(sw * s).max(box_w), round(sh * s).max(box_h));
                    let crop = anchored(resize, (box_w, box_h), spec.gravity);
                    Plan {
                        resize,
                        crop,
                        canvas: (box_w, box_h),
                        offset: (0, 0),
                    }
                }
                Fit::Contain => {
                    let s = cap((bw / sw).min(bh / sh));
                    let resize = (round(sw * s).min(w), round(sh * s).min(h));
                    let placed = anchored((w, h), resize, spec.gravity);
                    Plan {
                        resize,
                        crop: Rect {
                            x: 0,
                            y: 0,
                            width: resize.0,
                            height: resize.1,
                        },
                        canvas: (w, h),
                        offset: (placed.x, placed.y),
                    }
                }
            }
        }
    }
}

/// A `inner`-sized rectangle placed inside `outer` by the gravity.
fn anchored(outer: (u32, u32), inner: (u32, u32), gravity: Gravity) -> Rect {
    let (ax, ay) = gravity.anchor();
    let free_x = outer.0.saturating_sub(inner.0);
    let free_y = outer.1.saturating_sub(inner.1);
    Rect {
        x: (f64::from(free_x) * f64::from(ax)).round() as u32,
        y: (f64::from(free_y) * f64::from(ay)).round() as u32,
        width: inner.0.min(outer.0),
        height: inner.1.min(outer.1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgflex_core::{Format, Rgb};

    fn spec(
        w: Option<u32>,
        h: Option<u32>,
        fit: Fit,
        gravity: Gravity,
        enlarge: bool,
    ) -> TransformSpec {
        TransformSpec {
            width: w,
            height: h,
            fit,
            gravity,
            format: Format::Jpeg,
            quality: Some(80),
            background: Rgb::WHITE,
            enlarge,
            animate: false,
            auto_format: false,
            version: None,
        }
    }

    const SRC: (u32, u32) = (4000, 3000);

    #[test]
    fn no_size_keeps_the_source() {
        assert_eq!(
            plan(SRC, &spec(None, None, Fit::Inside, Gravity::Center, false)).output(),
            SRC
        );
    }

    #[test]
    fn one_dimension_keeps_the_aspect_ratio() {
        assert_eq!(
            plan(
                SRC,
                &spec(Some(400), None, Fit::Inside, Gravity::Center, false)
            )
            .output(),
            (400, 300)
        );
        assert_eq!(
            plan(
                SRC,
                &spec(None, Some(300), Fit::Inside, Gravity::Center, false)
            )
            .output(),
            (400, 300)
        );
        assert_eq!(
            plan(
                (3, 1000),
                &spec(Some(1), None, Fit::Inside, Gravity::Center, false)
            )
            .output(),
            (1, 333)
        );
        // Never a zero-sized side, however thin the source.
        assert_eq!(
            plan(
                (10000, 1),
                &spec(Some(10), None, Fit::Inside, Gravity::Center, false)
            )
            .output(),
            (10, 1)
        );
    }

    #[test]
    fn no_enlarging_unless_asked() {
        let small = (200, 100);
        assert_eq!(
            plan(
                small,
                &spec(Some(400), None, Fit::Inside, Gravity::Center, false)
            )
            .output(),
            small
        );
        assert_eq!(
            plan(
                small,
                &spec(Some(400), None, Fit::Inside, Gravity::Center, true)
            )
            .output(),
            (400, 200)
        );
        assert_eq!(
            plan(
                small,
                &spec(Some(800), Some(800), Fit::Inside, Gravity::Center, false)
            )
            .output(),
            small
        );
    }

    #[test]
    fn cover_crops_by_gravity() {
        let p = plan(
            SRC,
            &spec(Some(300), Some(300), Fit::Cover, Gravity::Center, false),
        );
        assert_eq!(p.resize, (400, 300));
        assert_eq!(
            p.crop,
            Rect {
                x: 50,
                y: 0,
                width: 300,
                height: 300
            }
        );
        assert_eq!(p.output(), (300, 300));
        let west = plan(
            SRC,
            &spec(Some(300), Some(300), Fit::Cover, Gravity::West, false),
        );
        assert_eq!(west.crop.x, 0);
        let east = plan(
            SRC,
            &spec(Some(300), Some(300), Fit::Cover, Gravity::Southeast, false),
        );
        assert_eq!((east.crop.x, east.crop.y), (100, 0));
        let tall = plan(
            SRC,
            &spec(Some(400), Some(100), Fit::Cover, Gravity::South, false),
        );
        assert_eq!(tall.resize, (400, 300));
        assert_eq!(
            tall.crop,
            Rect {
                x: 0,
                y: 200,
                width: 400,
                height: 100
            }
        );
    }

    #[test]
    fn cover_without_enlarging_shrinks_the_box() {
        // An 800x600 card from a 400x400 source: the box shrinks to fit, aspect kept.
        let p = plan(
            (400, 400),
            &spec(Some(800), Some(600), Fit::Cover, Gravity::Center, false),
        );
        assert_eq!(p.output(), (400, 300));
        assert_eq!(p.resize, (400, 400));
        assert_eq!(
            p.crop,
            Rect {
                x: 0,
                y: 50,
                width: 400,
                height: 300
            }
        );
        let p = plan(
            (400, 400),
            &spec(Some(800), Some(600), Fit::Cover, Gravity::Center, true),
        );
        assert_eq!(p.output(), (800, 600));
        assert_eq!(p.resize, (800, 800));
    }

    #[test]
    fn contain_letterboxes() {
        let p = plan(
            SRC,
            &spec(Some(300), Some(300), Fit::Contain, Gravity::Center, false),
        );
        assert_eq!(p.resize, (300, 225));
        assert_eq!(p.output(), (300, 300));
        assert_eq!(p.offset, (0, 38));
        let north = plan(
            SRC,
            &spec(Some(300), Some(300), Fit::Contain, Gravity::North, false),
        );
        assert_eq!(north.offset, (0, 0));
        // A small source is placed unscaled in the full box.
        let small = plan(
            (100, 50),
            &spec(Some(300), Some(300), Fit::Contain, Gravity::Center, false),
        );
        assert_eq!(
            (small.resize, small.output(), small.offset),
            ((100, 50), (300, 300), (100, 125))
        );
    }

    #[test]
    fn fill_stretches() {
        assert_eq!(
            plan(
                SRC,
                &spec(Some(300), Some(300), Fit::Fill, Gravity::Center, false)
            )
            .resize,
            (300, 300)
        );
        // Without enlarging, a box bigger than the source shrinks uniformly to fit it.
        assert_eq!(
            plan(
                (200, 100),
                &spec(Some(400), Some(400), Fit::Fill, Gravity::Center, false)
            )
            .output(),
            (100, 100)
        );
        assert_eq!(
            plan(
                (200, 100),
                &spec(Some(400), Some(400), Fit::Fill, Gravity::Center, true)
            )
            .output(),
            (400, 400)
        );
    }

    #[test]
    fn every_plan_is_consistent() {
        for source in [(1, 1), (7, 3), (4000, 3000), (3000, 4000), (14, 25)] {
            for w in [None, Some(1), Some(13), Some(800), Some(5000)] {
                for h in [None, Some(1), Some(17), Some(600)] {
                    for fit in Fit::ALL {
                        for gravity in Gravity::ALL {
                            for enlarge in [false, true] {
                                let s = spec(w, h, fit, gravity, enlarge).normalized();
                                let p = plan(source, &s);
                                let c = p.crop;
                                assert!(c.width >= 1 && c.height >= 1, "{source:?} {s:?} {p:?}");
                                assert!(
                                    c.x + c.width <= p.resize.0 && c.y + c.height <= p.resize.1,
                                    "{source:?} {s:?} {p:?}"
                                );
                                assert!(
                                    p.offset.0 + c.width <= p.canvas.0
                                        && p.offset.1 + c.height <= p.canvas.1,
                                    "{source:?} {s:?} {p:?}"
                                );
                                if !enlarge {
                                    assert!(
                                        p.resize.0 <= source.0.max(c.width)
                                            && p.resize.1 <= source.1.max(c.height),
                                        "enlarged: {source:?} {s:?} {p:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
