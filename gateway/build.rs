//! Records when and by whom ratufa was built, for `/version` (master and agent).
//! `SOURCE_DATE_EPOCH` wins over the clock, for reproducible builds.

use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    println!("cargo:rustc-env=RATUFA_BUILD_TIME={time}");
    println!("cargo:rustc-env=RATUFA_BUILD_USER={user}");
}
