//! imgflex's pure core: the public URL grammar, the policy, `Accept` negotiation and the
//! canonical variant key. No I/O, no async, no AWS: the edge function, the handler, the CLI
//! and `imgflex dev` all agree because they all call this.
//!
//! ```
//! use imgflex_core::{Policy, route_target};
//!
//! let policy = Policy::default();
//! let a = route_target("/photos/cat.jpg?width=400&fit=cover&h=300&format=webp", None, &policy).unwrap();
//! let b = route_target("/photos/cat.jpg?h=300&w=400&fm=webp", None, &policy).unwrap();
//! assert_eq!(a.uri(), b.uri());
//! assert_eq!(a.uri(), "/_v/photos/cat.jpg/w400_h300_cover_center_q75_bgffffff_e0.webp");
//! ```

mod accept;
mod error;
mod hints;
mod key;
mod limits;
mod params;
mod policy;
mod resolve;
mod route;
mod signature;
mod space;
mod spec;

pub use accept::{MAX_ACCEPT_CHARS, legacy_fallback, negotiate};
pub use error::{ErrorKind, ParseError, error_chain};
pub use hints::{ACCEPT_CH, AUTO_WIDTH_STEP, HINT_HEADERS, VARY, Viewer};
pub use key::{
    MAX_ORIGINAL_KEY_BYTES, MAX_VARIANT_SUFFIX_BYTES, Target, VARIANT_ROOT, Variant, canonical,
    decode_path, decode_variant_path, encode_key, image_content_type, image_extension,
    parse_canonical,
};
pub use limits::{Limits, MAX_SOURCE_PIXELS_CEILING};
pub use params::Params;
pub use policy::{
    DIMENSION_CEILING, DprSteps, Policy, PolicyError, Preset, Qualities, STACK_SECTIONS,
};
pub use route::{
    Route, VIEWER_URL_HEADER, check_signature, format_names, route, route_signed, route_target,
};
pub use signature::{
    EXPIRES_PARAM, KEY_PARAM, MAX_KEY_ID_CHARS, SIG_PARAM, SIGNATURE_CHARS, Signing,
    secret_from_bytes, sign_url, signature,
};
pub use space::{Count, VariantSpace, variant_space};
pub use spec::{Fit, Format, FormatRequest, Gravity, Rgb, TransformSpec};
