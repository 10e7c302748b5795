//! The typed transform spec: what a variant is, with every default resolved.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the image is fitted into the requested box (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fill the box and crop what overflows, anchored by the gravity.
    Cover,
    /// Fit within the box and letterbox the rest with the background colour.
    Contain,
    /// Stretch to exactly the box, ignoring the aspect ratio.
    Fill,
    /// Fit within the box, keeping the aspect ratio; the result may be smaller than the box.
    Inside,
}

impl Fit {
    pub const ALL: [Fit; 4] = [Fit::Cover, Fit::Contain, Fit::Fill, Fit::Inside];

    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Fill => "fill",
            Fit::Inside => "inside",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Fit> {
        Fit::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Which part of the image survives a `cover` crop (or where `contain` places it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gravity {
    Center,
    /// The cover crop is chosen by saliency (libvips' `attention`: edges, skin tones and
    /// saturated colour), from the pixels; `contain` places the image centred.
    Auto,
    North,
    South,
    East,
    West,
    Northeast,
    Northwest,
    Southeast,
    Southwest,
}

impl Gravity {
    pub const ALL: [Gravity; 10] = [
        Gravity::Center,
        Gravity::Auto,
        Gravity::North,
        Gravity::South,
        Gravity::East,
        Gravity::West,
        Gravity::Northeast,
        Gravity::Northwest,
        Gravity::Southeast,
        Gravity::Southwest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Gravity::Center => "center",
            Gravity::Auto => "auto",
            Gravity::North => "north",
            Gravity::South => "south",
            Gravity::East => "east",
            Gravity::West => "west",
            Gravity::Northeast => "northeast",
            Gravity::Northwest => "northwest",
            Gravity::Southeast => "southeast",
            Gravity::Southwest => "southwest",
        }
    }

    /// Accepts the canonical names and Cloudinary's `north_east` spellings.
    pub(crate) fn from_name(s: &str) -> Option<Gravity> {
        let compact = s.replace('_', "");
        Gravity::ALL.into_iter().find(|g| g.as_str() == compact)
    }

    /// Horizontal and vertical anchor in `0.0..=1.0` (0 = left/top, 1 = right/bottom).
    /// `auto` anchors at the centre until the pipeline has seen the pixels.
    pub fn anchor(self) -> (f32, f32) {
        match self {
            Gravity::Center | Gravity::Auto => (0.5, 0.5),
            Gravity::North => (0.5, 0.0),
            Gravity::South => (0.5, 1.0),
            Gravity::East => (1.0, 0.5),
            Gravity::West => (0.0, 0.5),
            Gravity::Northeast => (1.0, 0.0),
            Gravity::Northwest => (0.0, 0.0),
            Gravity::Southeast => (1.0, 1.0),
            Gravity::Southwest => (0.0, 1.0),
        }
    }
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[serde(alias = "jpg")]
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Jpeg, Format::Png, Format::Webp, Format::Avif];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    /// The extension of the canonical key (one spelling: `jpg`, never `jpeg`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    pub fn content_type(self) -> &'static str {
        crate::key::image_content_type(self.extension()).unwrap_or("application/octet-stream")
    }

    /// `jpeg`, `jpg`, `png`, `webp`, `avif` (already lowercased).
    pub(crate) fn from_name(s: &str) -> Option<Format> {
        match s {
            "jpeg" | "jpg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            "avif" => Some(Format::Avif),
            _ => None,
        }
    }

    /// Whether the encoder has a quality knob; PNG is lossless, so `q` means nothing there.
    pub fn is_lossy(self) -> bool {
        !matches!(self, Format::Png)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a URL asked for: a fixed format, or `auto` (negotiated from `Accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatRequest {
    Auto,
    Fixed(Format),
}

/// An opaque sRGB colour, written as `rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    pub const WHITE: Rgb = Rgb([0xff, 0xff, 0xff]);

    /// Exactly six hex digits, either case.
    pub(crate) fn from_hex(s: &str) -> Option<Rgb> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
        Some(Rgb([byte(0)?, byte(2)?, byte(4)?]))
    }
}

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "{r:02x}{g:02x}{b:02x}")
    }
}

impl Serialize for Rgb {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fully resolved transform: every default applied, dpr folded into the dimensions,
/// fields that cannot change the output normalised away. Two requests that mean the same
/// image produce equal specs, and [`crate::key::Variant`] renders equal specs to one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TransformSpec {
    /// Target width in pixels; `None` means "from the source" (or from `height`, keeping aspect).
    pub width: Option<u32>,
    /// Target height in pixels; `None` means "keep the aspect ratio".
    pub height: Option<u32>,
    /// Always [`Fit::Inside`] unless both dimensions are set (with one, every fit is the same).
    pub fit: Fit,
    /// Always [`Gravity::Center`] unless the fit is `cover` or `contain`.
    pub gravity: Gravity,
    pub format: Format,
    /// Encoder quality 1..=100; `None` for lossless formats.
    pub quality: Option<u8>,
    /// Letterbox colour for `contain`, and what alpha is flattened onto for JPEG;
    /// white whenever it cannot show.
    pub background: Rgb,
    /// Whether the output may be larger than the source.
    pub enlarge: bool,
    /// An animated source (GIF, WebP) gives an animated output; otherwise its first frame.
    /// Only WebP output animates, so it is always `false` for the other formats.
    pub animate: bool,
    /// The format was negotiated from `Accept` (`fm=auto`): responses must say `Vary: Accept`.
    pub auto_format: bool,
    /// Cache-busting token, carried into the key and otherwise ignored.
    pub version: Option<String>,
}

impl TransformSpec {
    /// Drops what cannot change the output, so equal meaning gives equal specs: with fewer
    /// than two dimensions every fit is `inside`; gravity only matters to `cover`/`contain`;
    /// the background only shows in a letterbox or under JPEG's flattened alpha; enlarging
    /// needs a dimension; lossless formats have no quality; only WebP animates.
    pub fn normalized(mut self) -> TransformSpec {
        if self.width.is_none() || self.height.is_none() {
            self.fit = Fit::Inside;
        }
        if !matches!(self.fit, Fit::Cover | Fit::Contain) {
            self.gravity = Gravity::Center;
        }
        // Saliency chooses a crop; `contain` crops nothing, so it places the image centred.
        if self.fit == Fit::Contain && self.gravity == Gravity::Auto {
            self.gravity = Gravity::Center;
        }
        if self.fit != Fit::Contain && self.format != Format::Jpeg {
            self.background = Rgb::WHITE;
        }
        if self.width.is_none() && self.height.is_none() {
            self.enlarge = false;
        }
        if !self.format.is_lossy() {
            self.quality = None;
        }
        if self.format != Format::Webp {
            self.animate = false;
        }
        self
    }
}
