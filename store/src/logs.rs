//! Build logs, keyed by a digest (the derivation's recipe identity).
//!
//! A log lives at `logs/x/<63 hex>.log` (fanned out by the key's first hex digit, like
//! objects) and is replaced atomically. [`Store::find_logs`] finds logs by a hex prefix
//! of their key, as `imgbuild log` takes it. GC removes logs whose key has no live
//! entry in the recipe index.

use std::io::Write;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::layout::{list_fanned_out, publish_file, sorted_names, INDEX_MODE};
use crate::Store;

impl Store {
    /// Stores (replaces) the log for `key`.
    pub fn write_log(&self, key: &Digest, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.layout.log(key);
        publish_file(&path, INDEX_MODE, true, |file| file.write_all(bytes))?;
        Ok(())
    }

    /// The path of the log for `key`, if there is one.
    pub fn log_path(&self, key: &Digest) -> Option<PathBuf> {
        let path = self.layout.log(key);
        path.is_file().then_some(path)
    }

    /// Logs whose key starts with the hex `prefix` (case-insensitive), sorted by key.
    pub fn find_logs(&self, prefix: &str) -> Result<Vec<(Digest, PathBuf)>, StoreError> {
        if prefix.len() > 64 || !prefix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(StoreError::InvalidDigestPrefix {
                prefix: prefix.to_owned(),
            });
        }
        let prefix = prefix.to_ascii_lowercase();
        let logs = self.layout.logs();
        let mut found = Vec::new();
        let fan_out = crate::layout::FAN_OUT;
        if prefix.len() >= fan_out {
            let directory = logs.join(&prefix[..fan_out]);
            for name in sorted_names(&directory)? {
                if let Some(digest) =
                    crate::layout::digest_from_fan_out(&prefix[..fan_out], &name, ".log")
                {
                    if digest.to_hex().starts_with(&prefix) {
                        found.push((digest, directory.join(name)));
                    }
                }
            }
        } else {
            found = list_fanned_out(&logs, ".log")?
                .into_iter()
                .filter(|(digest, _)| digest.to_hex().starts_with(&prefix))
                .collect();
        }
        Ok(found)
    }
}
