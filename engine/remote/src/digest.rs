//! Digests on the wire, and which one each store blob has.
//!
//! The store names everything by BLAKE3; REAPI servers we target (BuildGrid) speak
//! SHA-256 only. [`WireDigest`] is a SHA-256 digest with its size, as REAPI's `Digest`
//! carries them. [`DigestMap`] remembers, under `STORE/remote/sha256/`, the SHA-256 name
//! of every blob sent or received, so a blob is SHA-256-hashed once per store, not once
//! per upload. The map only saves work: everything read from a remote is verified
//! against both names before the store keeps it.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use bazel_remote_apis::build::bazel::remote::execution::v2::Digest as ProtoDigest;
use imgbuild_store::{Digest, Store};
use sha2::{Digest as _, Sha256};

use crate::error::RemoteError;

/// A SHA-256 digest and the size of the bytes it names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WireDigest {
    /// SHA-256 of the bytes.
    pub sha256: [u8; 32],
    /// Their length.
    pub size: u64,
}

impl WireDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> WireDigest {
        WireDigest {
            sha256: Sha256::digest(bytes).into(),
            size: bytes.len() as u64,
        }
    }

    /// As REAPI's `Digest`.
    pub fn to_proto(self) -> ProtoDigest {
        ProtoDigest {
            hash: hex::encode(self.sha256),
            size_bytes: self.size as i64,
        }
    }

    /// From REAPI's `Digest`; `None` when it is not a SHA-256 digest with a size.
    pub fn from_proto(digest: &ProtoDigest) -> Option<WireDigest> {
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&digest.hash, &mut sha256).ok()?;
        let size = u64::try_from(digest.size_bytes).ok()?;
        Some(WireDigest { sha256, size })
    }

    /// `hex/size`, as resource names and messages write it.
    pub fn to_text(self) -> String {
        format!("{}/{}", hex::encode(self.sha256), self.size)
    }

    /// Parses `hex/size`.
    pub fn parse(text: &str) -> Option<WireDigest> {
        let (hash, size) = text.split_once('/')?;
        WireDigest::from_proto(&ProtoDigest {
            hash: hash.to_owned(),
            size_bytes: size.parse().ok()?,
        })
    }
}

impl fmt::Display for WireDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_text())
    }
}

impl fmt::Debug for WireDigest {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "WireDigest({})", self.to_text())
    }
}

/// An incremental SHA-256 with a byte count.
#[derive(Default)]
pub struct WireHasher {
    hasher: Sha256,
    size: u64,
}

impl WireHasher {
    /// Absorbs bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    /// How many bytes it absorbed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest of everything absorbed.
    pub fn finish(self) -> WireDigest {
        WireDigest {
            sha256: self.hasher.finalize().into(),
            size: self.size,
        }
    }
}

impl Write for WireHasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// BLAKE3 name → SHA-256 name of blobs and tree objects this store has exchanged.
pub struct DigestMap {
    directory: PathBuf,
}

impl DigestMap {
    /// The map of `store`.
    pub fn new(store: &Store) -> DigestMap {
        DigestMap {
            directory: store.remote_directory().join("sha256"),
        }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.directory.join(&hex[..2]).join(&hex[2..])
    }

    /// The recorded wire digest of `digest`, if any.
    pub fn get(&self, digest: &Digest) -> Option<WireDigest> {
        let text = std::fs::read_to_string(self.path(digest)).ok()?;
        WireDigest::parse(text.trim())
    }

    /// Records that `digest` is `wire` on the wire (best effort: the map is a cache).
    pub fn put(&self, digest: &Digest, wire: WireDigest) {
        let path = self.path(digest);
        if path.exists() {
            return;
        }
        let Some(parent) = path.parent() else { return };
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(parent)?;
            let mut file = tempfile::NamedTempFile::new_in(parent)?;
            file.write_all(wire.to_text().as_bytes())?;
            file.persist(&path).map_err(|error| error.error)?;
            Ok(())
        };
        if let Err(error) = write() {
            tracing::debug!(path = %path.display(), %error, "cannot record a wire digest");
        }
    }

    /// The wire digest of a store blob: from the map, else by hashing it (and recording).
    pub fn blob(&self, store: &Store, digest: &Digest) -> Result<WireDigest, RemoteError> {
        if let Some(wire) = self.get(digest) {
            return Ok(wire);
        }
        let mut hasher = WireHasher::default();
        store.write_blob_to(digest, &mut hasher)?;
        let wire = hasher.finish();
        self.put(digest, wire);
        Ok(wire)
    }
}
