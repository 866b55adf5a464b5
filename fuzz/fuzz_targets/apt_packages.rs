//! `Packages` indices on arbitrary text: the deb822 paragraph parser, the package
//! parser, every relationship field, and the version ordering (a total order
//! consistent with equality and hashing) over the versions found.

#![no_main]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use imgbuild_apt::version::Version;
use imgbuild_apt::{deb822, packages, relations};
use libfuzzer_sys::fuzz_target;

fn hash_of(version: &Version) -> u64 {
    let mut hasher = DefaultHasher::new();
    version.hash(&mut hasher);
    hasher.finish()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for paragraph in deb822::paragraphs(text).take(1000) {
        let Ok(paragraph) = paragraph else { break };
        for (name, value) in paragraph.fields() {
            assert!(!name.is_empty(), "empty field name");
            assert_eq!(
                paragraph.get(name).is_some(),
                true,
                "field {name} not found"
            );
            let _ = value;
        }
    }
    let mut versions: Vec<Version> = Vec::new();
    // Each line on its own as a version and as a relationship field.
    for line in text.lines().take(64) {
        if let Ok(version) = Version::parse(line) {
            let again = Version::parse(version.as_str()).expect("a parsed version parses again");
            assert_eq!(again.as_str(), version.as_str(), "version text");
            versions.push(version);
        }
        let _ = relations::parse(line);
    }
    if let Ok(index) = packages::parse(text, 0, "fuzz Packages") {
        for package in &index {
            versions.push(package.version.clone());
            for field in [
                &package.depends,
                &package.pre_depends,
                &package.recommends,
                &package.conflicts,
                &package.breaks,
                &package.provides,
                &package.replaces,
            ] {
                if let Ok(groups) = relations::parse(field) {
                    for relation in groups.iter().flatten() {
                        if let Some((_, version)) = &relation.constraint {
                            versions.push(version.clone());
                        }
                        let _ = relation.allows_version(&package.version);
                    }
                }
            }
        }
    }
    versions.truncate(24);
    for a in &versions {
        assert_eq!(a.cmp(a), Ordering::Equal, "{a} is not equal to itself");
        for b in &versions {
            let ab = a.cmp(b);
            assert_eq!(ab, b.cmp(a).reverse(), "{a} vs {b} is not antisymmetric");
            if ab == Ordering::Equal {
                assert_eq!(hash_of(a), hash_of(b), "{a} == {b} but their hashes differ");
            }
            for c in &versions {
                if ab != Ordering::Greater && b.cmp(c) != Ordering::Greater {
                    assert_ne!(
                        a.cmp(c),
                        Ordering::Greater,
                        "{a} <= {b} <= {c} but {a} > {c}"
                    );
                }
            }
        }
    }
});
