//! The sample originals `imgflex dev` serves when given no `--originals`: small images built
//! into the binary so the README's first command works on a fresh machine. Their sources and
//! licences are in `cli/samples/README.md`.

/// One built-in original.
#[derive(Debug)]
pub struct Sample {
    pub key: &'static str,
    pub bytes: &'static [u8],
}

pub const SAMPLES: &[Sample] = &[
    Sample {
        key: "rocket.jpg",
        bytes: include_bytes!("../../samples/rocket.jpg"),
    },
    Sample {
        key: "seeding.jpg",
        bytes: include_bytes!("../../samples/seeding.jpg"),
    },
    Sample {
        key: "sunset.webp",
        bytes: include_bytes!("../../samples/sunset.webp"),
    },
    Sample {
        key: "astronaut.png",
        bytes: include_bytes!("../../samples/astronaut.png"),
    },
];

pub fn find(key: &str) -> Option<&'static [u8]> {
    SAMPLES.iter().find(|s| s.key == key).map(|s| s.bytes)
}

#[cfg(test)]
mod tests {
    use super::SAMPLES;

    #[test]
    fn samples_are_small_images() {
        for sample in SAMPLES {
            assert!(sample.bytes.len() < 100_000, "{} is too big", sample.key);
            assert!(imgflex_core::image_extension(sample.key).is_some());
        }
    }
}
