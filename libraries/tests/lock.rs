//! The `libraries` lock section: sorted, stable JSON, unique names, comparison with a
//! manifest.

use std::path::Path;

use imgbuild_libraries::{LockSection, LockedLibrary, Manifest};

fn entry(name: &str, source: &str) -> LockedLibrary {
    LockedLibrary {
        name: name.into(),
        source: source.into(),
        commit: None,
        version: None,
        hash: format!("blake3:{}", "0".repeat(64)),
    }
}

#[test]
fn json_is_sorted_stable_and_round_trips() {
    let mut tools = entry("tools", "git+https://git.example.org/tools.git?rev=3f2c1e9");
    tools.commit = Some("3f2c1e9".repeat(6)[..40].to_owned());
    tools.version = Some("1.0.0".into());
    let section = LockSection::new([tools, entry("base", "path+../base")]);
    let json = section.to_json();
    let expected = format!(
        r#"[
  {{
    "name": "base",
    "source": "path+../base",
    "hash": "blake3:{zeros}"
  }},
  {{
    "name": "tools",
    "source": "git+https://git.example.org/tools.git?rev=3f2c1e9",
    "commit": "3f2c1e93f2c1e93f2c1e93f2c1e93f2c1e93f2c1",
    "version": "1.0.0",
    "hash": "blake3:{zeros}"
  }}
]
"#,
        zeros = "0".repeat(64)
    );
    assert_eq!(json, expected);
    let read = LockSection::from_json(&json).expect("parses");
    assert_eq!(read, section);
    assert_eq!(read.to_json(), json);
}

#[test]
fn duplicates_and_unknown_fields_are_refused() {
    let twice =
        r#"[{"name":"a","source":"path+a","hash":"h"},{"name":"a","source":"path+b","hash":"h"}]"#;
    let error = LockSection::from_json(twice).expect_err("fails");
    assert!(error.to_string().contains("locked twice"), "{error}");
    let unknown = r#"[{"name":"a","source":"path+a","hash":"h","extra":1}]"#;
    assert!(LockSection::from_json(unknown).is_err());
}

#[test]
fn matches_manifest_follows_patches() {
    let manifest = Manifest::parse(
        Path::new("imgbuild.toml"),
        "[libraries]\nbase = { git = \"https://git.example.org/b.git\", version = \"^1.4\" }\n\n[patch]\nbase = { path = \"../b\" }\n",
    )
    .expect("fixture");
    assert!(LockSection::new([entry("base", "path+../b")]).matches_manifest(&manifest));
    let stale = LockSection::new([entry(
        "base",
        "git+https://git.example.org/b.git?version=^1.4",
    )]);
    let error = stale.check_manifest(&manifest).expect_err("fails");
    assert!(error.to_string().contains("path+../b"), "{error}");
    assert!(!LockSection::default().matches_manifest(&manifest));
}
