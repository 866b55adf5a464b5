//! Shared helpers for the store's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use imgbuild_store::{Digest, Store};

/// A fresh store in a temporary directory (kept alive by the returned guard).
pub fn store() -> (tempfile::TempDir, Store) {
    let directory = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&directory.path().join("store")).expect("open store");
    (directory, store)
}

/// Deterministic pseudo-random bytes (xorshift), so tests need no RNG crate.
pub fn pseudo_random(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

/// `root/objects/<kind>/x/<63 hex>` (layout v2: one hex digit of fan-out).
pub fn object_path(store: &Store, kind: &str, digest: &Digest) -> PathBuf {
    let hex = digest.to_string();
    store
        .root()
        .join("objects")
        .join(kind)
        .join(&hex[..1])
        .join(&hex[1..])
}

/// All object files of one kind.
pub fn object_files(store: &Store, kind: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let directory = store.root().join("objects").join(kind);
    for prefix in std::fs::read_dir(directory).expect("list") {
        let prefix = prefix.expect("entry").path();
        for file in std::fs::read_dir(&prefix).expect("list") {
            files.push(file.expect("entry").path());
        }
    }
    files.sort();
    files
}

/// Flips one byte of a read-only object file in place.
pub fn flip_byte(path: &Path, offset_from_end: usize) {
    use std::os::unix::fs::PermissionsExt;
    let mut bytes = std::fs::read(path).expect("read object");
    let index = bytes.len() - 1 - offset_from_end.min(bytes.len() - 1);
    bytes[index] ^= 0x55;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(path, bytes).expect("write object");
}

/// Allocated bytes of a file (st_blocks × 512).
pub fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).expect("stat").blocks() * 512
}
