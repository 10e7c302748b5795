//! The zip cargo-lambda produces, checked to be a Lambda package for its architecture: an
//! executable `bootstrap` ELF of the right machine at the zip's root.

use std::fmt;
use std::io::{Read, Seek};

use crate::cli::Arch;

/// Why a zip is not a Lambda package for the architecture it should be.
#[derive(Debug, PartialEq, Eq)]
pub enum ZipProblem {
    Unreadable(String),
    NoBootstrap,
    NotExecutable,
    NotElf,
    WrongMachine { expected: u16, found: u16 },
}

impl fmt::Display for ZipProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZipProblem::Unreadable(e) => write!(f, "it is not a readable zip: {e}"),
            ZipProblem::NoBootstrap => write!(f, "it has no `bootstrap` at its root"),
            ZipProblem::NotExecutable => write!(f, "its `bootstrap` is not executable"),
            ZipProblem::NotElf => write!(f, "its `bootstrap` is not a 64-bit little-endian ELF"),
            ZipProblem::WrongMachine { expected, found } => write!(
                f,
                "its `bootstrap` is for ELF machine `{found:#x}`, not `{expected:#x}`"
            ),
        }
    }
}

/// Checks what Lambda's `provided.al2023` runtime needs: an executable file named
/// `bootstrap` at the zip's root, an ELF for `arch`.
pub fn inspect_zip<R: Read + Seek>(zip: R, arch: Arch) -> Result<(), ZipProblem> {
    let mut archive =
        zip::ZipArchive::new(zip).map_err(|e| ZipProblem::Unreadable(e.to_string()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|_| ZipProblem::NoBootstrap)?;
    // Lambda execs the file; zips made without Unix modes are refused rather than guessed.
    if entry.unix_mode().is_none_or(|mode| mode & 0o111 == 0) {
        return Err(ZipProblem::NotExecutable);
    }
    let mut header = [0u8; 20];
    entry
        .read_exact(&mut header)
        .map_err(|_| ZipProblem::NotElf)?;
    // e_ident: magic, EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian); e_machine at 18.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(ZipProblem::NotElf);
    }
    let found = u16::from_le_bytes([header[18], header[19]]);
    if found != arch.elf_machine() {
        return Err(ZipProblem::WrongMachine {
            expected: arch.elf_machine(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Cursor, Write};

    use super::*;

    fn zip_with(name: &str, mode: u32, contents: &[u8]) -> Cursor<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        writer.start_file(name, options).unwrap();
        writer.write_all(contents).unwrap();
        let mut cursor = writer.finish().unwrap();
        cursor.set_position(0);
        cursor
    }

    fn elf(machine: u16) -> Vec<u8> {
        let mut header = b"\x7fELF\x02\x01\x01\x00".to_vec();
        header.resize(18, 0);
        header.extend(machine.to_le_bytes());
        header.resize(64, 0);
        header
    }

    #[test]
    fn a_lambda_zip_has_an_executable_bootstrap_elf_for_its_arch() {
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0xB7)), Arch::Arm64),
            Ok(())
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0x3E)), Arch::X86_64),
            Ok(())
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, &elf(0x3E)), Arch::Arm64),
            Err(ZipProblem::WrongMachine {
                expected: 0xB7,
                found: 0x3E
            })
        );
        assert_eq!(
            inspect_zip(
                zip_with("bootstrap/bootstrap", 0o755, &elf(0xB7)),
                Arch::Arm64
            ),
            Err(ZipProblem::NoBootstrap)
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o644, &elf(0xB7)), Arch::Arm64),
            Err(ZipProblem::NotExecutable)
        );
        assert_eq!(
            inspect_zip(
                zip_with("bootstrap", 0o755, b"#!/bin/sh\necho hi\n"),
                Arch::Arm64
            ),
            Err(ZipProblem::NotElf)
        );
        assert_eq!(
            inspect_zip(zip_with("bootstrap", 0o755, b"\x7fELF"), Arch::Arm64),
            Err(ZipProblem::NotElf)
        );
        assert!(matches!(
            inspect_zip(Cursor::new(b"not a zip".to_vec()), Arch::Arm64),
            Err(ZipProblem::Unreadable(_))
        ));
    }
}
