//! The output record file (format version 2): a record bound to its index entries by a
//! MAC with the store's secret key.
//!
//! ```text
//! {"version":2,"keys":[{"index":"cache-key","key":"<64 hex>"},...],"record":{...},"mac":"<64 hex>"}\n
//! ```
//!
//! `keys` names the index entries the file stands for: one, or two (cache key, then
//! recipe identity) for a file written by [`crate::Store::put_output_pair`], whose
//! recipe-index entry is a hard link to the cache-key entry. `mac` is BLAKE3 in keyed
//! mode, keyed with `secret_key.subkey(`[`RECORD_MAC_PURPOSE`]`)`, over:
//!
//! ```text
//! count    u8          number of index entries (1 or 2)
//! entries  count x     index u8 (1 = cache key, 2 = recipe identity), key [32]
//! object   the output digest encoding of the record ([`crate::output`]: domain,
//!          kind, blob + size + executable bit or tree)
//! secret   u8          0 or 1
//! ```
//!
//! A file is used under `(index, key)` only when its MAC verifies with this store's key
//! and `keys` holds `(index, key)`. So a record edited by hand (to point at another
//! valid blob, say), copied over another key's record, or brought over from another
//! store is refused ([`crate::OutputLookup::Rejected`]) and its output rebuilt, and
//! `store verify` reports and removes it.
//!
//! Version 1 files (`{"version":1,"record":...}`, before MACs) read as absent
//! ([`crate::OutputLookup::Absent`]): after an upgrade, each output is rebuilt (or
//! found again by cache key) once, and its record rewritten in version 2.

use std::fmt;

use crate::digest::Digest;
use crate::output::{OutputIndex, OutputRecord};

/// The purpose string of the record MAC's subkey ([`crate::SecretKey::subkey`]).
pub const RECORD_MAC_PURPOSE: &str = "imgbuild 2026-12 output record mac v1";
const RECORD_FORMAT_VERSION: u32 = 2;

/// The record MAC key of one store. Its `Debug` output never shows the bytes.
#[derive(Clone)]
pub(crate) struct MacKey(pub(crate) [u8; 32]);

impl fmt::Debug for MacKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("MacKey(<hidden>)")
    }
}

/// One index entry a record file stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IndexEntry {
    pub(crate) index: OutputIndex,
    pub(crate) key: Digest,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord {
    version: u32,
    keys: Vec<IndexEntry>,
    record: OutputRecord,
    mac: Digest,
}

/// Only the version, to tell an old format from a damaged file.
#[derive(serde::Deserialize)]
struct VersionOnly {
    version: u32,
}

/// What a record file holds for one index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// An authentic record for this entry.
    Authentic(OutputRecord),
    /// A record of an older format (version 1): absent, rebuilt.
    Outdated,
    /// Not a record this store wrote for this entry; why.
    Rejected(String),
}

fn index_byte(index: OutputIndex) -> u8 {
    match index {
        OutputIndex::CacheKey => 1,
        OutputIndex::Recipe => 2,
    }
}

/// The MAC of `record` standing for `entries` (see the module documentation).
fn mac(key: &MacKey, entries: &[IndexEntry], record: &OutputRecord) -> blake3::Hash {
    let mut message = Vec::with_capacity(2 + entries.len() * 33 + 64);
    message.push(u8::try_from(entries.len()).unwrap_or(u8::MAX));
    for entry in entries {
        message.push(index_byte(entry.index));
        message.extend_from_slice(entry.key.as_bytes());
    }
    record.encode_object(&mut message);
    message.push(u8::from(record.secret));
    blake3::keyed_hash(&key.0, &message)
}

/// The file contents for `record` standing for `entries` (one or two).
pub(crate) fn encode(key: &MacKey, entries: &[IndexEntry], record: &OutputRecord) -> Vec<u8> {
    let stored = StoredRecord {
        version: RECORD_FORMAT_VERSION,
        keys: entries.to_vec(),
        record: record.clone(),
        mac: Digest::from_bytes(*mac(key, entries, record).as_bytes()),
    };
    let mut bytes = serde_json::to_vec(&stored).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Reads a record file found under `(index, key)`.
pub(crate) fn decode(mac_key: &MacKey, bytes: &[u8], index: OutputIndex, key: &Digest) -> Decoded {
    let version = match serde_json::from_slice::<VersionOnly>(bytes) {
        Ok(VersionOnly { version }) => version,
        Err(_) => return Decoded::Rejected("it is not an output record".to_owned()),
    };
    if version < RECORD_FORMAT_VERSION {
        return Decoded::Outdated;
    }
    if version != RECORD_FORMAT_VERSION {
        return Decoded::Rejected(format!("its format version {version} is unknown"));
    }
    let stored: StoredRecord = match serde_json::from_slice(bytes) {
        Ok(stored) => stored,
        Err(error) => return Decoded::Rejected(format!("it does not decode ({error})")),
    };
    if stored.keys.is_empty() || stored.keys.len() > 2 {
        return Decoded::Rejected(format!(
            "it names {} index entries (1 or 2 expected)",
            stored.keys.len()
        ));
    }
    // `blake3::Hash` compares in constant time.
    if mac(mac_key, &stored.keys, &stored.record) != blake3::Hash::from(*stored.mac.as_bytes()) {
        return Decoded::Rejected(
            "its MAC does not match: it was edited, or written with another secret key".to_owned(),
        );
    }
    if !stored.keys.contains(&IndexEntry { index, key: *key }) {
        let owner = stored.keys[0];
        return Decoded::Rejected(format!(
            "it is the record of {} {}, copied here",
            index_name(owner.index),
            owner.key
        ));
    }
    Decoded::Authentic(stored.record)
}

/// How an index is named in messages.
pub(crate) fn index_name(index: OutputIndex) -> &'static str {
    match index {
        OutputIndex::CacheKey => "cache key",
        OutputIndex::Recipe => "recipe identity",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::OutputObject;

    fn record() -> OutputRecord {
        OutputRecord {
            object: OutputObject::File {
                blob: Digest::of(b"x"),
                size: 1,
                executable: true,
            },
            secret: false,
        }
    }

    const KEY: MacKey = MacKey([7; 32]);

    fn entry(index: OutputIndex, name: &[u8]) -> IndexEntry {
        IndexEntry {
            index,
            key: Digest::of(name),
        }
    }

    #[test]
    fn record_files_round_trip_for_each_of_their_entries_only() {
        let entries = [
            entry(OutputIndex::CacheKey, b"cache"),
            entry(OutputIndex::Recipe, b"recipe"),
        ];
        let bytes = encode(&KEY, &entries, &record());
        for IndexEntry { index, key } in entries {
            assert_eq!(
                decode(&KEY, &bytes, index, &key),
                Decoded::Authentic(record())
            );
        }
        let elsewhere = decode(&KEY, &bytes, OutputIndex::Recipe, &Digest::of(b"other"));
        assert!(
            matches!(&elsewhere, Decoded::Rejected(reason) if reason.contains("copied")),
            "{elsewhere:?}"
        );
        let other_store = decode(&MacKey([8; 32]), &bytes, entries[0].index, &entries[0].key);
        assert!(
            matches!(&other_store, Decoded::Rejected(reason) if reason.contains("MAC")),
            "{other_store:?}"
        );
    }

    #[test]
    fn edited_old_and_foreign_files_are_told_apart() {
        let entry = entry(OutputIndex::CacheKey, b"cache");
        let bytes = encode(&KEY, &[entry], &record());
        let text = String::from_utf8(bytes).expect("utf-8");
        let edited = text.replace("\"size\":1", "\"size\":2");
        assert_ne!(edited, text);
        let check = |bytes: &str| decode(&KEY, bytes.as_bytes(), entry.index, &entry.key);
        assert!(matches!(check(&edited), Decoded::Rejected(reason) if reason.contains("MAC")));
        let version_1 = r#"{"version":1,"record":{"object":{"type":"tree","tree":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},"secret":false}}"#;
        assert_eq!(check(version_1), Decoded::Outdated);
        assert!(
            matches!(check(&text.replace("\"version\":2", "\"version\":3")), Decoded::Rejected(reason) if reason.contains("version 3"))
        );
        assert!(matches!(check("{"), Decoded::Rejected(_)));
    }

    /// Golden vector: the MAC of a known record under a known key. A change here changes
    /// every record file and must come with a new format version.
    #[test]
    fn the_mac_is_the_documented_keyed_hash() {
        let entries = [IndexEntry {
            index: OutputIndex::Recipe,
            key: Digest::from_bytes([1; 32]),
        }];
        let record = OutputRecord {
            object: OutputObject::Tree {
                tree: Digest::from_bytes([2; 32]),
            },
            secret: true,
        };
        let mut message = vec![1, 2];
        message.extend_from_slice(&[1; 32]);
        message.extend_from_slice(b"imgbuild-output-v1\0");
        message.push(2);
        message.extend_from_slice(&[2; 32]);
        message.push(1);
        let key = MacKey(crate::SecretKey::from_bytes([3; 32]).subkey(RECORD_MAC_PURPOSE));
        assert_eq!(
            mac(&key, &entries, &record),
            blake3::keyed_hash(&key.0, &message)
        );
        assert_eq!(
            mac(&key, &entries, &record).to_hex().as_str(),
            "abfb011c191fd54a25b2809b518fbb6c17834f16483ed13177662c5eb91554e7"
        );
    }
}
