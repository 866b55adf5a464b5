//! Moving outputs between the store and a remote CAS.
//!
//! An output crosses the wire as its store objects — each file's blob and each
//! directory object of its tree, every one a CAS blob named by the SHA-256 of its
//! bytes — plus one **output description**, the JSON blob an ActionResult names:
//!
//! ```text
//! { "format": "imgbuild-remote-output-v1",
//!   "record": <the output record: file or tree, BLAKE3 digest, secret flag>,
//!   "blobs": [[<BLAKE3 hex>, "<sha256 hex>/<size>"], ...],   sorted
//!   "trees": [[<BLAKE3 hex>, "<sha256 hex>/<size>"], ...] }  sorted
//! ```
//!
//! Uploading asks the CAS which objects it lacks and sends only those. Downloading
//! checks each blob's SHA-256 and size as it arrives and its BLAKE3 name as the store
//! keeps it; tree objects are verified and published children first
//! ([`Store::put_tree_objects`]). Anything that does not match is
//! [`RemoteError::Corrupt`] or [`RemoteError::Missing`], and the caller builds the
//! output here instead: never a wrong output.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use imgbuild_store::{Digest, OutputObject, OutputRecord, Store};

use crate::client::Client;
use crate::digest::{DigestMap, WireDigest};
use crate::error::RemoteError;

const FORMAT: &str = "imgbuild-remote-output-v1";

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Description {
    format: String,
    record: OutputRecord,
    blobs: Vec<(String, String)>,
    trees: Vec<(String, String)>,
}

/// An output as the remote sees it.
pub struct Described {
    /// The output description's bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: WireDigest,
    blobs: BTreeMap<Digest, WireDigest>,
    trees: BTreeMap<Digest, WireDigest>,
}

/// Moves outputs between one store and one remote.
pub struct Transfer<'a> {
    /// The remote.
    pub client: &'a Client,
    /// The store.
    pub store: &'a Store,
    map: DigestMap,
}

impl<'a> Transfer<'a> {
    /// A transfer between `store` and `client`.
    pub fn new(client: &'a Client, store: &'a Store) -> Transfer<'a> {
        Transfer {
            client,
            store,
            map: DigestMap::new(store),
        }
    }

    fn cached_path(&self, record: &OutputRecord) -> PathBuf {
        self.store
            .remote_directory()
            .join("outputs")
            .join(record.digest().to_hex())
    }

    /// The description of a stored output (kept under `STORE/remote/outputs/` once
    /// computed: describing a root filesystem hashes every file with SHA-256).
    pub fn describe(&self, record: &OutputRecord) -> Result<Described, RemoteError> {
        if let Ok(bytes) = std::fs::read(self.cached_path(record)) {
            if let Ok(described) = parse(&bytes, WireDigest::of(&bytes)) {
                if described.1.object == record.object {
                    return Ok(described.0);
                }
            }
        }
        let mut blobs = BTreeMap::new();
        let mut trees = BTreeMap::new();
        match &record.object {
            OutputObject::File { blob, .. } => {
                blobs.insert(*blob, self.map.blob(self.store, blob)?);
            }
            OutputObject::Tree { tree } => {
                for (digest, bytes) in self.store.tree_objects(tree)? {
                    trees.insert(digest, WireDigest::of(&bytes));
                }
                let loaded = self.store.load_tree(tree)?;
                for (_, entry) in loaded.walk() {
                    if let imgbuild_store::EntryKind::File { blob, .. } = &entry.kind {
                        if !blobs.contains_key(blob) {
                            blobs.insert(*blob, self.map.blob(self.store, blob)?);
                        }
                    }
                }
            }
        }
        let text = |map: &BTreeMap<Digest, WireDigest>| {
            map.iter()
                .map(|(digest, wire)| (digest.to_hex(), wire.to_text()))
                .collect()
        };
        let description = Description {
            format: FORMAT.to_owned(),
            record: record.clone(),
            blobs: text(&blobs),
            trees: text(&trees),
        };
        let bytes = serde_json::to_vec(&description).map_err(|error| RemoteError::Manifest {
            digest: record.digest().to_hex(),
            reason: error.to_string(),
        })?;
        self.keep_description(record, &bytes);
        let digest = WireDigest::of(&bytes);
        Ok(Described {
            bytes,
            digest,
            blobs,
            trees,
        })
    }

    /// Keeps a description under `STORE/remote/outputs/` (best effort: a cache).
    fn keep_description(&self, record: &OutputRecord, bytes: &[u8]) {
        let path = self.cached_path(record);
        if path.exists() {
            return;
        }
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
            if let Ok(mut file) = tempfile::NamedTempFile::new_in(parent) {
                use std::io::Write;
                if file.write_all(bytes).is_ok() {
                    let _ = file.persist(&path);
                }
            }
        }
    }

    /// The record an output description names, reading only the description (and
    /// keeping it, so the output can be named to the remote again without its objects
    /// being here).
    pub fn record_of(
        &self,
        description: WireDigest,
        secret: bool,
    ) -> Result<OutputRecord, RemoteError> {
        let bytes = self.read_blob(description)?;
        let (_, mut record) = parse(&bytes, description)?;
        record.secret |= secret;
        self.keep_description(&record, &bytes);
        Ok(record)
    }

    /// Sends what the CAS lacks of a stored output, and its description; returns the
    /// description's digest.
    pub fn upload(&self, record: &OutputRecord) -> Result<WireDigest, RemoteError> {
        let described = self.describe(record)?;
        let mut wanted: Vec<WireDigest> = described.blobs.values().copied().collect();
        wanted.extend(described.trees.values().copied());
        wanted.push(described.digest);
        wanted.retain(|digest| digest.size > 0);
        let missing = self.client.find_missing(&wanted)?;
        if missing.is_empty() {
            return Ok(described.digest);
        }
        let mut batch = Vec::new();
        if missing.contains(&described.digest) {
            self.queue(&mut batch, described.digest, described.bytes.clone())?;
        }
        if described.trees.values().any(|wire| missing.contains(wire)) {
            if let OutputObject::Tree { tree } = &record.object {
                for (digest, bytes) in self.store.tree_objects(tree)? {
                    if let Some(wire) = described
                        .trees
                        .get(&digest)
                        .filter(|wire| missing.contains(wire))
                    {
                        self.queue(&mut batch, *wire, bytes)?;
                    }
                }
            }
        }
        let mut batch_bytes = 0u64;
        let mut sent = std::collections::HashSet::new();
        for (digest, wire) in &described.blobs {
            if !missing.contains(wire) || !sent.insert(*wire) {
                continue;
            }
            if self.client.fits_batch(wire.size) {
                let mut bytes = Vec::with_capacity(wire.size as usize);
                self.store.write_blob_to(digest, &mut bytes)?;
                batch_bytes += wire.size;
                batch.push((*wire, bytes));
                if batch_bytes > 32 << 20 {
                    self.client.upload_batch(std::mem::take(&mut batch))?;
                    batch_bytes = 0;
                }
            } else {
                self.upload_large(digest, *wire)?;
            }
        }
        self.client.upload_batch(batch)?;
        Ok(described.digest)
    }

    /// Adds a blob to `batch`, or streams it now when it is too large for one.
    fn queue(
        &self,
        batch: &mut Vec<(WireDigest, Vec<u8>)>,
        wire: WireDigest,
        bytes: Vec<u8>,
    ) -> Result<(), RemoteError> {
        if self.client.fits_batch(wire.size) {
            batch.push((wire, bytes));
            Ok(())
        } else {
            self.client
                .upload_stream(wire, Box::new(std::io::Cursor::new(bytes)))
        }
    }

    fn upload_large(&self, digest: &Digest, wire: WireDigest) -> Result<(), RemoteError> {
        // The blob is rendered into an anonymous scratch file and streamed from there.
        let scratch = self.store.scratch_directory()?;
        let mut file = tempfile::tempfile_in(&scratch).map_err(|source| {
            RemoteError::Store(imgbuild_store::StoreError::Io {
                operation: "create a scratch file in",
                path: scratch.clone(),
                source,
            })
        })?;
        self.store.copy_blob_to_file(digest, &mut file)?;
        use std::io::Seek;
        file.rewind().map_err(|source| {
            RemoteError::Store(imgbuild_store::StoreError::Io {
                operation: "rewind a scratch file in",
                path: scratch,
                source,
            })
        })?;
        self.client.upload_stream(wire, Box::new(file))
    }

    /// Fetches an output by its description's digest into the store, verified, and
    /// returns its record.
    pub fn download(&self, description: WireDigest) -> Result<OutputRecord, RemoteError> {
        self.download_as(description, false)
    }

    /// [`Transfer::download`], keeping the output owner-only when `secret` (the
    /// derivation says so even if the worker's record does not).
    pub fn download_as(
        &self,
        description: WireDigest,
        secret: bool,
    ) -> Result<OutputRecord, RemoteError> {
        let bytes = self.read_blob(description)?;
        let (described, mut record) = parse(&bytes, description)?;
        record.secret |= secret;
        let secret = record.secret;
        let mut small = Vec::new();
        for (digest, wire) in &described.blobs {
            if self.store.has_blob(digest) {
                continue;
            }
            if wire.size == 0 {
                self.put_blob(digest, &[], secret)?;
            } else if self.client.fits_batch(wire.size) {
                small.push((*digest, *wire));
            } else {
                let mut writer = self.store.blob_writer(secret)?;
                self.client.read_stream(*wire, &mut writer)?;
                let info = writer.finish()?;
                self.check_name(digest, &info.digest, *wire)?;
            }
        }
        for group in small.chunks(512) {
            let wires: Vec<WireDigest> = group.iter().map(|(_, wire)| *wire).collect();
            let fetched: HashMap<WireDigest, Vec<u8>> =
                self.client.read_batch(&wires)?.into_iter().collect();
            for (digest, wire) in group {
                let bytes = fetched.get(wire).ok_or(RemoteError::Missing {
                    digest: wire.to_text(),
                })?;
                self.put_blob(digest, bytes, secret)?;
            }
        }
        if let OutputObject::Tree { tree } = &record.object {
            if !self.store.has_tree(tree) {
                let (wires, large): (Vec<WireDigest>, Vec<WireDigest>) = described
                    .trees
                    .values()
                    .copied()
                    .partition(|wire| self.client.fits_batch(wire.size));
                let mut fetched: HashMap<WireDigest, Vec<u8>> =
                    self.client.read_batch(&wires)?.into_iter().collect();
                for wire in large {
                    fetched.insert(wire, self.read_blob(wire)?);
                }
                let mut objects = HashMap::new();
                for (digest, wire) in &described.trees {
                    let bytes = fetched.get(wire).ok_or(RemoteError::Missing {
                        digest: wire.to_text(),
                    })?;
                    objects.insert(*digest, bytes.clone());
                }
                self.store
                    .put_tree_objects(tree, &objects)
                    .map_err(|error| match error {
                        imgbuild_store::StoreError::ObjectCorrupt { digest, .. } => {
                            RemoteError::Corrupt {
                                digest: format!("tree {}", digest.to_hex()),
                                found: "bytes that are not that directory".to_owned(),
                            }
                        }
                        other => RemoteError::Store(other),
                    })?;
            }
        }
        for (digest, wire) in described.blobs.iter().chain(described.trees.iter()) {
            self.map.put(digest, *wire);
        }
        Ok(record)
    }

    /// Reads one blob (batch or stream by size), verified.
    pub fn read_blob(&self, digest: WireDigest) -> Result<Vec<u8>, RemoteError> {
        if self.client.fits_batch(digest.size) {
            let mut fetched = self.client.read_batch(&[digest])?;
            return fetched
                .pop()
                .map(|(_, bytes)| bytes)
                .ok_or(RemoteError::Missing {
                    digest: digest.to_text(),
                });
        }
        let mut bytes = Vec::new();
        self.client.read_stream(digest, &mut bytes)?;
        Ok(bytes)
    }

    fn put_blob(&self, expected: &Digest, bytes: &[u8], secret: bool) -> Result<(), RemoteError> {
        let info = self.store.put_blob(bytes, secret)?;
        self.check_name(expected, &info.digest, WireDigest::of(bytes))
    }

    fn check_name(
        &self,
        expected: &Digest,
        found: &Digest,
        wire: WireDigest,
    ) -> Result<(), RemoteError> {
        if expected != found {
            return Err(RemoteError::Corrupt {
                digest: format!("{wire} (blob {})", expected.to_hex()),
                found: format!("BLAKE3 {}", found.to_hex()),
            });
        }
        Ok(())
    }
}

/// Parses and checks an output description.
fn parse(bytes: &[u8], digest: WireDigest) -> Result<(Described, OutputRecord), RemoteError> {
    let bad = |reason: String| RemoteError::Manifest {
        digest: digest.to_text(),
        reason,
    };
    let description: Description =
        serde_json::from_slice(bytes).map_err(|error| bad(error.to_string()))?;
    if description.format != FORMAT {
        return Err(bad(format!("unknown format `{}`", description.format)));
    }
    let read = |list: &[(String, String)]| -> Result<BTreeMap<Digest, WireDigest>, RemoteError> {
        let mut map = BTreeMap::new();
        for (name, wire) in list {
            let digest = name
                .parse::<Digest>()
                .ok()
                .ok_or_else(|| bad(format!("`{name}` is not a BLAKE3 digest")))?;
            let wire =
                WireDigest::parse(wire).ok_or_else(|| bad(format!("`{wire}` is not a digest")))?;
            map.insert(digest, wire);
        }
        Ok(map)
    };
    let blobs = read(&description.blobs)?;
    let trees = read(&description.trees)?;
    let complete = match &description.record.object {
        OutputObject::File { blob, .. } => blobs.contains_key(blob),
        OutputObject::Tree { tree } => trees.contains_key(tree),
    };
    if !complete {
        return Err(bad("the output's own object is not listed".to_owned()));
    }
    Ok((
        Described {
            bytes: bytes.to_vec(),
            digest,
            blobs,
            trees,
        },
        description.record,
    ))
}
