//! Unpacking what was fetched, by the file's extension, as Mesos's fetcher does:
//! .tar, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz, .zip, and a lone .gz.
//! Everything is pure Rust (no tar, gzip or unzip binaries, no system libraries).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

/// The kinds of archive the fetcher unpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    Zip,
    /// A single gzip-compressed file: unpacked beside itself without the `.gz`.
    Gz,
}

impl Archive {
    /// The archive kind `name` hints at, if any (case-insensitive).
    pub fn of(name: &str) -> Option<Archive> {
        let name = name.to_ascii_lowercase();
        let ends = |suffixes: &[&str]| suffixes.iter().any(|s| name.ends_with(s));
        if ends(&[".tar.gz", ".tgz"]) {
            Some(Archive::TarGz)
        } else if ends(&[".tar.bz2", ".tbz2"]) {
            Some(Archive::TarBz2)
        } else if ends(&[".tar.xz", ".txz"]) {
            Some(Archive::TarXz)
        } else if ends(&[".tar"]) {
            Some(Archive::Tar)
        } else if ends(&[".zip"]) {
            Some(Archive::Zip)
        } else if ends(&[".gz"]) {
            Some(Archive::Gz)
        } else {
            None
        }
    }
}

/// Unpacks `archive` (named `name`, which picks the format) into `into`.
/// Entries that would land outside `into` are refused by the tar and zip readers.
pub fn extract(kind: Archive, archive: &Path, name: &str, into: &Path) -> Result<(), String> {
    let open = || {
        File::open(archive)
            .map(BufReader::new)
            .map_err(|e| format!("cannot open {}: {e}", archive.display()))
    };
    match kind {
        Archive::Tar => untar(open()?, into),
        Archive::TarGz => untar(flate2::read::MultiGzDecoder::new(open()?), into),
        Archive::TarBz2 => untar(bzip2::read::MultiBzDecoder::new(open()?), into),
        Archive::TarXz => {
            // lzma-rs decompresses into a writer: a scratch file keeps memory flat.
            let scratch = into.join(format!(".ratufa-xz-{}", uuid::Uuid::new_v4()));
            let result = (|| {
                let mut out = BufWriter::new(
                    File::create(&scratch)
                        .map_err(|e| format!("cannot write a scratch file: {e}"))?,
                );
                lzma_rs::xz_decompress(&mut open()?, &mut out)
                    .map_err(|e| format!("not a valid xz stream: {e}"))?;
                drop(out);
                let tar = File::open(&scratch).map_err(|e| format!("scratch file: {e}"))?;
                untar(BufReader::new(tar), into)
            })();
            let _ = std::fs::remove_file(&scratch);
            result
        }
        Archive::Zip => {
            let mut zip = zip::ZipArchive::new(open()?)
                .map_err(|e| format!("not a valid zip archive: {e}"))?;
            zip.extract(into)
                .map_err(|e| format!("cannot unpack the zip archive: {e}"))
        }
        Archive::Gz => {
            let stem = gz_stem(name);
            let target = into.join(&stem);
            let mut out = File::create(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            let mut gz = flate2::read::MultiGzDecoder::new(open()?);
            std::io::copy(&mut gz, &mut out)
                .map(|_| ())
                .map_err(|e| format!("not a valid gzip stream: {e}"))
        }
    }
}

fn untar(reader: impl Read, into: &Path) -> Result<(), String> {
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    tar.unpack(into)
        .map_err(|e| format!("cannot unpack the tar archive: {e}"))
}

/// `name` without its `.gz` (a name that is only `.gz` becomes `file`).
fn gz_stem(name: &str) -> PathBuf {
    let base = Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = &base[..base.len().saturating_sub(3)];
    PathBuf::from(if stem.is_empty() { "file" } else { stem })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// A tar with `run.sh` (mode 755) and `data/hello.txt`.
    fn tar_bytes() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |path: &str, body: &[u8], mode: u32| {
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(mode);
            header.set_cksum();
            builder.append_data(&mut header, path, body).unwrap();
        };
        add("run.sh", b"#!/bin/sh\necho hi\n", 0o755);
        add("data/hello.txt", b"hello\n", 0o644);
        builder.into_inner().unwrap()
    }

    fn check_tree(dir: &Path) {
        assert_eq!(
            std::fs::read_to_string(dir.join("data/hello.txt")).unwrap(),
            "hello\n"
        );
        let mode = std::fs::metadata(dir.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    fn extract_bytes(name: &str, bytes: &[u8]) -> (tempfile::TempDir, Result<(), String>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join(name);
        std::fs::write(&archive, bytes).unwrap();
        let kind = Archive::of(name).unwrap();
        let result = extract(kind, &archive, name, dir.path());
        (dir, result)
    }

    #[test]
    fn kinds_by_extension() {
        for (name, kind) in [
            ("a.tar", Archive::Tar),
            ("a.tar.gz", Archive::TarGz),
            ("A.TGZ", Archive::TarGz),
            ("a.tar.bz2", Archive::TarBz2),
            ("a.tbz2", Archive::TarBz2),
            ("a.tar.xz", Archive::TarXz),
            ("a.txz", Archive::TarXz),
            ("a.zip", Archive::Zip),
            ("a.gz", Archive::Gz),
        ] {
            assert_eq!(Archive::of(name), Some(kind), "{name}");
        }
        assert_eq!(Archive::of("a.sh"), None);
        assert_eq!(Archive::of("tar"), None);
    }

    #[test]
    fn tar() {
        let (dir, result) = extract_bytes("a.tar", &tar_bytes());
        result.unwrap();
        check_tree(dir.path());
    }

    #[test]
    fn tar_gz_and_tgz() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_bytes()).unwrap();
        let bytes = gz.finish().unwrap();
        for name in ["a.tar.gz", "a.tgz"] {
            let (dir, result) = extract_bytes(name, &bytes);
            result.unwrap();
            check_tree(dir.path());
        }
    }

    #[test]
    fn tar_bz2_and_tbz2() {
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(&tar_bytes()).unwrap();
        let bytes = bz.finish().unwrap();
        for name in ["a.tar.bz2", "a.tbz2"] {
            let (dir, result) = extract_bytes(name, &bytes);
            result.unwrap();
            check_tree(dir.path());
        }
    }

    #[test]
    fn tar_xz_and_txz() {
        let mut bytes = Vec::new();
        lzma_rs::xz_compress(&mut std::io::Cursor::new(tar_bytes()), &mut bytes).unwrap();
        for name in ["a.tar.xz", "a.txz"] {
            let (dir, result) = extract_bytes(name, &bytes);
            result.unwrap();
            check_tree(dir.path());
            // The scratch file is gone.
            let leftovers: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".ratufa-xz"))
                .collect();
            assert!(leftovers.is_empty());
        }
    }

    #[test]
    fn zip() {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let script = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(0o755);
        let data = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
        zip.start_file("run.sh", script).unwrap();
        zip.write_all(b"#!/bin/sh\necho hi\n").unwrap();
        zip.start_file("data/hello.txt", data).unwrap();
        zip.write_all(b"hello\n").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let (dir, result) = extract_bytes("a.zip", &bytes);
        result.unwrap();
        check_tree(dir.path());
    }

    #[test]
    fn lone_gz() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"plain\n").unwrap();
        let (dir, result) = extract_bytes("notes.txt.gz", &gz.finish().unwrap());
        result.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "plain\n"
        );
    }

    #[test]
    fn corrupt_archives_are_errors() {
        for name in ["a.tar.gz", "a.tar.bz2", "a.tar.xz", "a.zip", "a.gz"] {
            let (_dir, result) = extract_bytes(name, b"this is not an archive at all");
            assert!(result.is_err(), "{name}");
        }
    }

    #[test]
    fn tar_entries_cannot_escape() {
        // A hand-made header naming ../escape.txt (the builder refuses such paths).
        let mut header = tar::Header::new_gnu();
        let body = b"x";
        header.as_old_mut().name[..13].copy_from_slice(b"../escape.txt");
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        let mut block = [0u8; 512];
        block[0] = body[0];
        bytes.extend_from_slice(&block);
        bytes.extend_from_slice(&[0u8; 1024]);
        let outer = tempfile::tempdir().unwrap();
        let inner = outer.path().join("sandbox");
        std::fs::create_dir(&inner).unwrap();
        let archive = inner.join("a.tar");
        std::fs::write(&archive, &bytes).unwrap();
        let _ = extract(Archive::Tar, &archive, "a.tar", &inner);
        assert!(!outer.path().join("escape.txt").exists());
    }
}
