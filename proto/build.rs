//! Compiles the .proto files under `mesos/` (Mesos's v1 schema) and `ratufa/` (our own
//! internal protocols) with protox (pure Rust, so no `protoc`
//! is needed on the build machine), writes the descriptor set that the JSON mapping
//! walks at run time, and generates the prost types.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    collect(&root.join("mesos"), &mut files)?;
    collect(&root.join("ratufa"), &mut files)?;
    files.sort();
    // Import paths are "mesos/v1/...", as in Mesos, so the include root is the crate.
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&root).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;
    let fds = protox::compile(&relative, [&root])?;

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("mesos_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    prost_build::Config::new()
        .enable_type_names()
        // DiskInfo is large (about 1 KB inline, through Volume) and rarely set; boxed,
        // a Resource shrinks from about 1.2 KB to a few hundred bytes, which is what
        // every resource clone and move in the allocator pays.
        .boxed(".mesos.v1.Resource.disk")
        .compile_fds(fds)?;

    println!("cargo:rerun-if-changed=mesos");
    println!("cargo:rerun-if-changed=ratufa");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    Ok(())
}
