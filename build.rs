//! Link options for the binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C libraries Rust's standard library and the `libc` crate ask the linker for on
/// a gnu target (as `-lNAME`, in its dynamic mode), each with the static archives that
/// stand in for it in `ratufa-executor`. GROUP: the C library, libgcc and its unwinder
/// refer to one another.
const STAND_INS: &[(&str, &[&str])] = &[
    ("gcc_s", &["libgcc_eh.a", "libgcc.a", "libc.a"]),
    ("c", &["libc.a", "libgcc.a", "libgcc_eh.a"]),
    ("m", &["libm.a"]),
    ("util", &["libutil.a"]),
    ("rt", &["librt.a"]),
    ("pthread", &["libpthread.a"]),
    ("dl", &["libdl.a"]),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // `ratufa-executor` runs once per task: as a position-dependent executable its own
    // addresses are fixed at link time, so there are no relocations of its own to apply
    // (about 8,000 as a PIE, each page of them a copy-on-write fault) at every start.
    println!("cargo:rustc-link-arg-bin=ratufa-executor=-no-pie");
    link_executor_statically();
}

/// Links `ratufa-executor` against the static C library: then nothing is loaded,
/// mapped or symbol-resolved at its start (the dynamic loader with libc, libm and
/// libgcc_s was about half of its start's CPU). Rust's own switch for this
/// (`-C target-feature=+crt-static`) can only be given to every crate of a build,
/// proc-macros and the `ratufa` binary included, so this gives the linker, for this
/// binary alone, `-static` and a search directory where each library the standard
/// library asks for by name is a linker script naming the static archives instead.
/// Without the static archives (glibc's libc.a ships in libc6-dev / glibc-static) the
/// executor stays dynamically linked and the build says so.
fn link_executor_statically() {
    let target_ok = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !target_ok {
        return;
    }
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let dir = out_dir.join("static-executor");
    match write_stand_ins(&compiler, &dir) {
        Ok(()) => {
            println!("cargo:rustc-link-arg-bin=ratufa-executor=-static");
            println!(
                "cargo:rustc-link-arg-bin=ratufa-executor=-L{}",
                dir.display()
            );
        }
        Err(reason) => println!(
            "cargo:warning=ratufa-executor is linked dynamically (each start pays for \
             the dynamic loader): {reason}"
        ),
    }
}

fn write_stand_ins(compiler: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (name, archives) in STAND_INS {
        let paths = archives
            .iter()
            .map(|archive| archive_path(compiler, archive))
            .collect::<Result<Vec<_>, _>>()?;
        let script = format!(
            "/* -l{name} for the statically linked ratufa-executor (build.rs) */\nGROUP({})\n",
            paths
                .iter()
                .map(|path| format!("\"{}\"", path.display()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // Named `.so` so that it is found first in the linker's dynamic mode, which
        // rustc sets for these libraries.
        let file = dir.join(format!("lib{name}.so"));
        std::fs::write(&file, script)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    }
    Ok(())
}

/// Where the C compiler's linker finds `archive`; an error when it does not.
fn archive_path(compiler: &str, archive: &str) -> Result<PathBuf, String> {
    let output = Command::new(compiler)
        .arg(format!("-print-file-name={archive}"))
        .output()
        .map_err(|e| format!("cannot run {compiler}: {e}"))?;
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let path = PathBuf::from(&printed);
    // Where it has no such file, the compiler prints the bare name back.
    if !output.status.success() || !path.is_absolute() || !path.is_file() {
        return Err(format!("{compiler} finds no {archive}"));
    }
    Ok(path.canonicalize().unwrap_or(path))
}
