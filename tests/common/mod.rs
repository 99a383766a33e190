//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/captures` beside the checkout. Under CI it must exist; on a
/// developer machine without it, the test says so and is skipped.
pub fn shared_captures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: CI must run the third-party capture tests",
            dir.display()
        );
    }
    eprintln!(
        "SKIP: {} not found (third-party captures live beside the checkout)",
        dir.display()
    );
    None
}

/// The project's own fixtures folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The built `linewatch` binary.
pub fn linewatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_linewatch"))
}
