//! The secret key: 32 random bytes that keep secrets out of everything others can see.
//!
//! Every store has one (`secret-key`, created owner-only with the store on first use).
//! A user may point every machine of a team at one shared key file instead
//! (`IMGBUILD_SECRET_KEY_FILE` or `--secret-key-file`): media holding secrets are then
//! byte-identical wherever that key is used, and differ wherever it is not.
//!
//! The key itself is never used directly. [`SecretKey::subkey`] derives one key per
//! purpose with BLAKE3's key derivation (`derive_key(purpose, key)`), so the key that
//! seals secret values in derivation identities, the one that derives password salts
//! and the one that authenticates output records are unrelated to each other.
//!
//! # File format
//!
//! ```text
//! imgbuild-secret-key-v1\n
//! <64 lowercase hex digits>\n
//! ```
//!
//! Text, so that it survives copying through a password manager or a CI secret. A key
//! file must be a regular file of this user (or root) that nobody else may read or
//! write (mode 0600 or 0400); anything else is refused with the command that fixes it.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{IoResultExt, StoreError};
use crate::layout::publish_file;
use crate::Store;

const HEADER: &str = "imgbuild-secret-key-v1";
/// Name of the store's own key file, beside `VERSION`.
pub const STORE_KEY_FILE: &str = "secret-key";
const KEY_MODE: u32 = 0o600;

/// A 32-byte secret key. Its `Debug` output never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey {
    bytes: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SecretKey(<hidden>)")
    }
}

impl SecretKey {
    /// A key from its bytes (tests, and keys handed over by a caller).
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey { bytes }
    }

    /// A new key from the kernel's random number generator.
    pub fn generate() -> Result<SecretKey, StoreError> {
        let path = Path::new("/dev/urandom");
        let mut bytes = [0u8; 32];
        fs::File::open(path)
            .and_then(|mut file| file.read_exact(&mut bytes))
            .at("read random bytes from", path)?;
        Ok(SecretKey { bytes })
    }

    /// The key for one `purpose` (a constant, globally unique context string such as
    /// `"imgbuild 2026 secret identity v1"`).
    pub fn subkey(&self, purpose: &str) -> [u8; 32] {
        blake3::derive_key(purpose, &self.bytes)
    }

    /// Reads a key file, refusing one that others could read or write.
    pub fn read(path: &Path) -> Result<SecretKey, StoreError> {
        let problem = |problem: String| StoreError::KeyFile {
            path: path.to_path_buf(),
            problem,
        };
        let metadata = fs::metadata(path).at("read the secret key", path)?;
        if !metadata.is_file() {
            return Err(problem("it is not a regular file".to_owned()));
        }
        let user = rustix::process::geteuid().as_raw();
        if metadata.uid() != user && metadata.uid() != 0 {
            return Err(problem(format!(
                "it belongs to user {}, not to this user ({user})",
                metadata.uid()
            )));
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(problem(format!(
                "its mode is {mode:04o}: other users may read it (run `chmod 600 {}`)",
                path.display()
            )));
        }
        let text = fs::read_to_string(path).at("read the secret key", path)?;
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let digits = lines.next().unwrap_or_default().trim();
        if header != HEADER || lines.next().is_some() {
            return Err(problem(format!(
                "it is not an imgbuild key file (expected the line `{HEADER}` and 64 hex digits)"
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|_| problem("its second line is not 64 hex digits".to_owned()))?;
        Ok(SecretKey { bytes })
    }

    /// Writes the key to a new file (mode 0600); an existing file is an error.
    pub fn write_new(&self, path: &Path) -> Result<(), StoreError> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_MODE)
            .open(path)
            .at("create the key file", path)?;
        file.write_all(self.encode().as_bytes())
            .and_then(|()| file.sync_all())
            .at("write the key file", path)
    }

    fn encode(&self) -> String {
        format!("{HEADER}\n{}\n", hex::encode(self.bytes))
    }
}

impl Store {
    /// Path of the store's own key file.
    pub fn secret_key_path(&self) -> PathBuf {
        self.root().join(STORE_KEY_FILE)
    }

    /// The store's own key, created (owner-only) on first use. Two processes creating
    /// it at once agree on one key: the first to publish wins, the other reads it.
    pub fn secret_key(&self) -> Result<SecretKey, StoreError> {
        let path = self.secret_key_path();
        match SecretKey::read(&path) {
            Ok(key) => return Ok(key),
            Err(StoreError::Io { ref source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let key = SecretKey::generate()?;
        let encoded = key.encode();
        publish_file(&path, KEY_MODE, false, |file| {
            file.write_all(encoded.as_bytes())?;
            file.sync_all()
        })?;
        SecretKey::read(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_store_creates_its_key_once_owner_only() {
        let directory = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&directory.path().join("store")).expect("store");
        let first = store.secret_key().expect("key");
        let second = store.secret_key().expect("key again");
        assert_eq!(first, second);
        let mode = fs::metadata(store.secret_key_path()).expect("stat").mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(format!("{first:?}"), "SecretKey(<hidden>)");
    }

    #[test]
    fn key_files_round_trip_and_bad_ones_are_refused() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("team.key");
        let key = SecretKey::generate().expect("key");
        key.write_new(&path).expect("write");
        assert_eq!(SecretKey::read(&path).expect("read"), key);
        assert!(key.write_new(&path).is_err(), "an existing file is kept");
        assert_ne!(key.subkey("a"), key.subkey("b"));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = SecretKey::read(&path)
            .expect_err("readable by others")
            .to_string();
        assert!(error.contains("chmod 600"), "{error}");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&path, "imgbuild-secret-key-v1\nnot hex\n").expect("write");
        let error = SecretKey::read(&path).expect_err("not hex").to_string();
        assert!(error.contains("64 hex digits"), "{error}");
    }
}
