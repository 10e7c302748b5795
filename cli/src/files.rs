//! Writing files so that nobody sees half of one: every command that writes a file a user or
//! a server reads (a transform's output, rendered templates, a handler zip, `imgflex dev`'s
//! variants) goes through here.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`: a reader, a
/// crash or a second writer of the same path never leaves half a file, and a failure leaves
/// no temporary file behind. The file gets the mode a plain write would (0666 less umask),
/// not the temporary file's private 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = temp_beside(path)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_data()?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Copies `from` to `to` the same way.
pub fn copy_atomically(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut temp = temp_beside(to)?;
    std::io::copy(&mut std::fs::File::open(from)?, &mut temp)?;
    temp.as_file().sync_data()?;
    temp.persist(to).map_err(|e| e.error)?;
    Ok(())
}

/// A hidden temporary file in `path`'s folder (a rename only replaces atomically within one
/// file system), deleted on drop unless persisted.
fn temp_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".imgflex-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jpg");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let copy = dir.path().join("copy.jpg");
        copy_atomically(&path, &copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_readable_as_a_plain_write_would_be() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let atomic = dir.path().join("atomic");
        write_atomically(&atomic, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&atomic), mode(&plain));
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails, and the temporary file goes with it.
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), b"x").unwrap();
        assert!(write_atomically(&target, b"bytes").is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
