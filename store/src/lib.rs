//! `imgbuild-store`: the content-addressed store that builds write into.
//!
//! The store knows nothing of recipes, Debian or derivations. It keeps three
//! things: **blobs** (byte strings named by BLAKE3, kept zstd-compressed, large
//! ones split into content-defined chunks with zero runs as holes), **trees**
//! (Merkle directories carrying full metadata: ownership, setuid/setgid/sticky,
//! mtimes, xattrs, devices, fifos, hardlinks) and **keyed outputs** (two indexes,
//! cache key → record and recipe identity → record). Around those: build locks,
//! logs, GC roots, garbage collection, verification and materialization.
//!
//! # On-disk layout (version `imgbuild-store-v2`)
//!
//! ```text
//! VERSION                          "imgbuild-store-v2\n"; an unknown value is refused
//! secret-key                       the store's secret key (0600), see [`key`]
//! objects/blobs/x/<63 hex>         blob objects (single or chunk manifest), see [`blob`]
//! objects/chunks/x/<63 hex>        chunk objects, see [`chunking`]
//! objects/trees/x/<63 hex>         directory objects, see [`tree_encoding`]
//! outputs/cache-key/x/<63 hex>     output records by cache key (with their keys and a
//!                                  MAC), see [`output`] and [`record_file`]
//! outputs/recipe/x/<63 hex>        output records by recipe identity
//! logs/x/<63 hex>.log              build logs by recipe identity
//! locks/gc.lock                    store-wide lock: builds shared, GC/verify exclusive
//! locks/build/xx.lock              build locks, striped by the key's first byte
//! roots/explicit/<name>            named roots (JSON list of records)
//! roots/auto/<64 hex>              symlinks to result manifests (hex = BLAKE3 of its path)
//! tmp/                             scratch space (temporary root links)
//! quarantine/<kind>-<64 hex>       corrupt objects moved aside by verify
//! libraries/                       recipe libraries fetched by the CLI (git mirrors,
//!                                  trees/<commit>, archives/<sha256>); GC leaves it
//! remote/                          a remote cache client's state (the SHA-256 name of
//!                                  each blob sent or received); GC leaves it
//! ```
//!
//! `x` is the first hex character of the digest (v1 used two: 16 directories per
//! kind instead of 256 make a fresh store's first build a third faster on ext4).
//! Object files are read-only (0444; 0400 for secrets); index files are 0644. Files are written
//! as `.publish-XXXXXX` in their destination directory and renamed into place
//! (a same-directory rename avoids the kernel's filesystem-wide lock for
//! cross-directory renames, which serialised parallel chunk writers); GC removes
//! such temporaries once they are an hour old.
//!
//! # Durability
//!
//! Objects are published by writing a temporary sibling and renaming it into place. That is
//! atomic with respect to process crashes, including SIGKILL: an object path
//! either does not exist or holds a complete object. There is deliberately **no
//! fsync per object** (writing a thousand small objects must take well under
//! half a second); [`Store::sync`] (`syncfs`) is the durability point, called by
//! the CLI at the end of a build. After a power loss an object may be torn;
//! reads verify hashes ([`Store::read_blob`], [`Store::load_tree`]) so a torn
//! object is reported as [`StoreError::ObjectCorrupt`], never returned, and
//! [`Store::invalidate_object`] or [`Store::verify`] removes it so it is rebuilt.
//! A missing object (deleted by hand) is handled the same way: [`Store::repair_output`]
//! re-checks everything an output reaches, quarantines what is corrupt and removes the
//! objects that lead to what is missing, so the output reads as absent and its rebuild
//! writes every missing object again (see `repair`).
//!
//! # Concurrency
//!
//! [`Store`] is `Send + Sync`; several threads and several processes may use
//! one store at once. Writers of the same object race harmlessly (content is
//! identical; the first rename wins). [`Store::lock_build`] serialises builds of
//! one key across processes; [`Store::build_session`] keeps GC away while a
//! build runs.

pub mod blob;
pub mod checkout;
pub mod chunking;
pub mod diff;
pub mod digest;
pub mod error;
pub mod gc;
pub mod info;
pub mod key;
mod layout;
pub mod lock;
mod logs;
pub mod materialize;
pub mod output;
pub mod record_file;
mod repair;
pub mod result_dir;
mod roots;
mod sparse;
pub mod tar_render;
pub mod tree;
pub mod tree_encoding;
mod tree_path;
mod tree_store;
pub mod verify;

use std::fs::File;
use std::path::Path;

pub use blob::{BlobInfo, SINGLE_BLOB_LIMIT};
pub use checkout::{Checkout, DeviceNodes, ImportOptions, Imported};
pub use chunking::{hash_file, BlobWriter, CHUNK_AVERAGE, CHUNK_MAX, CHUNK_MIN};
pub use diff::{escape_bytes, Change, DiffStatistics, EntrySummary, TreeChange};
pub use digest::{Digest, DigestParseError};
pub use error::{ObjectKind, StoreError};
pub use gc::{BadRoot, DeadRoot, GcOptions, GcReport};
pub use info::{StoreInfo, Usage};
pub use key::SecretKey;
pub use layout::LAYOUT_VERSION;
pub use lock::{BuildLock, SessionGuard};
pub use materialize::{MaterializeOptions, Materialized};
pub use output::{OutputIndex, OutputLookup, OutputObject, OutputRecord};
pub use record_file::RECORD_MAC_PURPOSE;
pub use roots::read_result_manifest;
pub use tree::{Directory, Entry, EntryKind, Metadata, Name, Tree, TreeError, TreePath};
pub use tree_encoding::tree_digest;
pub use verify::{VerifyProblem, VerifyReport};

use error::IoResultExt;
use layout::Layout;

/// A store on the local filesystem.
#[derive(Debug, Clone)]
pub struct Store {
    layout: Layout,
    /// The output records' MAC key, derived from the secret key on first use.
    record_mac_key: std::sync::Arc<std::sync::OnceLock<record_file::MacKey>>,
}

impl Store {
    /// Opens the store at `root`, creating the layout if the directory is new or empty.
    ///
    /// Refuses a store with an unknown layout version, and a non-empty directory
    /// that is not a store.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            layout: Layout::create(root)?,
            record_mac_key: std::sync::Arc::default(),
        })
    }

    /// The store's root directory (absolute, resolved).
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The store's scratch directory (`tmp/`, created when missing): on the store's file
    /// system, owned by the store's owner, for checkouts and other temporary work.
    pub fn scratch_directory(&self) -> Result<std::path::PathBuf, StoreError> {
        let path = self.layout.tmp();
        std::fs::create_dir_all(&path).at("create", &path)?;
        Ok(path)
    }

    /// The directory recipe libraries are fetched into (`libraries/`): the store keeps
    /// it for the CLI's library resolution and knows nothing of its contents.
    pub fn libraries_directory(&self) -> std::path::PathBuf {
        self.layout.root().join("libraries")
    }

    /// The directory a remote cache client keeps its state in (`remote/`: which SHA-256
    /// digest each blob has on the wire); the store knows nothing of its contents.
    pub fn remote_directory(&self) -> std::path::PathBuf {
        self.layout.root().join("remote")
    }

    /// Flushes the store's whole filesystem to disk (`syncfs`): the durability point.
    pub fn sync(&self) -> Result<(), StoreError> {
        let root = self.layout.root();
        let directory = File::open(root).at("open", root)?;
        rustix::fs::syncfs(&directory).at("sync the filesystem of", root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<Store>();
        assert_send_sync::<BlobWriter>();
    }
}
