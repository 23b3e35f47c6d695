//! Link options for the binaries.

fn main() {
    // `ratufa-executor` runs once per task: as a position-dependent executable its own
    // addresses are fixed at link time, so the dynamic loader has no relocations of its
    // own to apply (about 8,000 as a PIE, each page of them a copy-on-write fault) at
    // every start.
    println!("cargo:rustc-link-arg-bin=ratufa-executor=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
