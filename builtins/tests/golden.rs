//! Golden output digests: for every builder kind, a fixed recipe built from fixed inputs
//! must give the output digest recorded here. A builder whose bytes change fails its
//! test, and the fix is to bump the kind's `kind_version` (so cached outputs are not
//! reused) and record the new digest — never to record it alone.
//!
//! Each case is evaluated with the real constructors and built by the engine into a
//! fresh store, from the same fixture directory: a few local files, a payload fetched
//! through a `file://` URL, and a Debian repository holding two `.deb`s written here
//! byte by byte (no `dpkg-deb`, so the bytes do not depend on the host's tools). A
//! `debian::packages` set is locked by hand from the fixture's own package list, as
//! `imgbuild lock` would pin it. No case carries a password or key: media with secrets
//! will depend on the store's secret key.
//!
//! [`every_kind_has_a_golden_digest`] fails when a kind in `BUILTINS` has no case here.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::rc::Rc;

use imgbuild_builtins::debian::lock::{LockedPackage, LockedRepository, LockedSet};
use imgbuild_builtins::debian::request::SetRequest;
use imgbuild_builtins::lock::{LockFile, FORMAT};
use imgbuild_builtins::{LockInput, Update, BUILTINS};
use imgbuild_engine::{BuildConfig, Event, EventSink, Graph, LocalExecutor, Options};
use imgbuild_evaluator::{evaluate, EvalOptions, Evaluation, SecretKeySource};
use imgbuild_store::Store;
use sha2::Digest as _;

/// `payload.bin`, fetched by the `fetch` case.
const PAYLOAD: &[u8] = b"imgbuild golden payload\n";
/// SHA-256 of [`PAYLOAD`] (what the `fetch` recipe promises).
const PAYLOAD_SHA256: &str = "1d6854db01f94719790f65021a0e3010094d68ba8d199805bd1372d33306095f";

/// Every date inside the fixture's `.deb`s.
const DEB_MTIME: u64 = 1_700_000_000;

/// One test per case, and the table [`every_kind_has_a_golden_digest`] reads. A case is
/// `test: "kind" version N, "digest", recipe;` — the kind's `kind_version` is recorded
/// with the digest, so a new digest without a version bump stands out in review.
macro_rules! golden {
    ($($test:ident: $kind:literal version $version:literal, $digest:literal, $recipe:expr;)*) => {
        /// Every case: (kind, recipe, expected output digest).
        const CASES: &[(&str, &str, &str)] = &[$(($kind, $recipe, $digest)),*];
        $(
            #[test]
            fn $test() {
                check(Golden { kind: $kind, version: $version, digest: $digest }, $recipe);
            }
        )*
    };
}

/// What a case expects: the output `out` is a derivation of `kind` at `version`, and
/// its output digest is `digest`.
struct Golden {
    kind: &'static str,
    version: u32,
    digest: &'static str,
}

golden! {
    text: "text" version 1, "387c34615995fc5cf918e96aee64ac5925101cfb0a6160ebcf6fca9a3d4e0469",
        r##"#{ out: text("greeting", ["hello, ", text("who", "golden"), "\n", 42]) }"##;
    file: "file" version 1, "15421f77d6686629b34be247293a52b193edef56fb96a72f6c596a02a34b6849",
        r##"#{ out: file("data/run.sh") }"##;
    dir: "dir" version 1, "8df9dec41966f233cf4aa9b3ab26554a0c70da15ba8599538a5aac2a0b4c98f4",
        r##"#{ out: dir("data") }"##;
    tree: "tree" version 1, "5cfcc243585373b338e1ece5930bcc2592eb2593c5746445dac6f0f84688e210",
        r##"#{ out: tree("root", #{
            "/etc/motd": text("motd", "golden\n"),
            "/etc/shadow": #{ text: "root:*:19000:0:99999:7:::\n", mode: 0o640, gid: 42 },
            "/usr/bin/tool": #{ source: file("data/run.sh"), mode: 0o4755 },
            "/bin": #{ symlink: "usr/bin" },
            "/tmp": #{ directory: true, mode: 0o1777 },
            "/dev/null": #{ char_device: [1, 3], mode: 0o666 },
            "/opt/data": dir("data"),
        }) }"##;
    merge: "merge" version 1, "31525097de159e37e55dcd90e10a2e564777d0c4c44fdd36bb24586d7db79bcc",
        r##"#{ out: merge("merged", [
            tree("left", #{ "/etc/left": text("left\n"), "/usr/share/both": text("same\n") }),
            tree("right", #{ "/etc/right": #{ text: "right\n", mode: 0o600 },
                             "/usr/share/both": text("same\n") }),
        ]) }"##;
    tar: "tar" version 1, "704dfb6f736a1e387bd332c8f2baf0d0092b1938816106a713751cb952fc020b",
        r##"#{ out: tar(tree("archived", #{
            "/a": text("a\n"),
            "/b/c": #{ symlink: "../a" },
            "/etc/shadow": #{ text: "x\n", mode: 0o640, gid: 42 },
            "/dev/null": #{ char_device: [1, 3], mode: 0o666 },
            "/usr/bin/tool": #{ source: file("data/run.sh"), mode: 0o4755 },
        })) }"##;
    fetch: "fetch" version 1, "8e90d0bb214dcfd3e3aafd83fe4b771ea0ac1e60204b2cfe4f30574cd0d779ab",
        r##"#{ out: fetch(#{ url: "file://@FIXTURE@/payload.bin", sha256: "@PAYLOAD_SHA256@" }) }"##;
    iso_image: "iso_image" version 1, "936602489df2aa509d187763d10ced5eef0ae3104386d2d6864b18238885e762",
        r##"#{ out: iso::image(#{
            label: "GOLDEN",
            tree: tree("disc", #{
                "/README": text("readme\n"),
                "/bin/run": #{ source: file("data/run.sh"), mode: 0o755 },
                "/docs": dir("data"),
                "/link": #{ symlink: "README" },
            }),
            source_date_epoch: 1700000000,
        }) }"##;
    cloud_init_seed: "cloud_init_seed" version 1, "8a3411c0c086b1fec486a5584728205a6773417293c434626d561b322f11fce4",
        r##"#{ out: cloud_init::seed(#{
            hostname: "golden-1",
            network: #{ ip: "10.0.0.5", prefix: 24, gateway: "10.0.0.1", dns: "10.0.0.1" },
            user_data: #{
                package_update: false,
                write_files: [#{ path: "/etc/golden", content: "golden\n", permissions: "0644" }],
                runcmd: [["touch", "/run/golden"]],
            },
            scripts: #{ "10-hello.sh": "#!/bin/sh\necho hello\n" },
            source_date_epoch: 1700000000,
        }) }"##;
    cloud_init_user_data: "cloud_init_user_data" version 1, "3a93b773fd8c973447aa0e20f5661cf334180fc708b6ddf8f5db741d25412d7b",
        r##"#{ out: cloud_init::user_data(#{
            user_data: #{ packages: ["nginx"], runcmd: [["systemctl", "enable", "nginx"]] },
        }) }"##;
    opennebula_context: "opennebula_context" version 1, "cd22dab2309d172ab79ea17e6ace29e6e965f5d9e35743f3ed0cd9c95a01cd4e",
        r##"#{ out: context::iso(#{
            hostname: "golden-1",
            network: #{ ip: "10.0.0.5", prefix: 24, gateway: "10.0.0.1", dns: "10.0.0.1" },
            start_script: "#!/bin/sh\necho hello\n",
            files: #{ "init.sh": file("data/run.sh") },
            init_scripts: ["init.sh"],
            variables: #{ TIMEZONE: "UTC", role: "it's golden" },
            source_date_epoch: 1700000000,
        }) }"##;
    openstack_config_drive: "openstack_config_drive" version 1, "62b59de154987b482e1ac73d57bf25138bb93d72cca4b4b931534e2d6a556570",
        r##"#{ out: config_drive::image(#{
            hostname: "golden-1",
            uuid: "6f0e3a52-1f4b-4c55-9d3e-000000000001",
            network: #{ ip: "10.0.0.5", prefix: 24, gateway: "10.0.0.1",
                        mac: "52:54:00:00:00:05" },
            user_data: #{ write_files: [#{ path: "/etc/golden", content: "golden\n" }] },
            meta_data: #{ availability_zone: "zone-a" },
            files: #{ "/etc/motd": "hello\n" },
            source_date_epoch: 1700000000,
        }) }"##;
    sbom_spdx: "sbom_spdx" version 1, "5e932da8e49027a73425adf61d86547cd0946efa5e292763ba0fcf1ded04b284",
        r##"#{ out: sbom::spdx(tree("root", #{
            "/var/lib/dpkg/status": #{ text: "Package: hello\nStatus: install ok installed\nMaintainer: Jane Doe <jane@example.org>\nArchitecture: amd64\nVersion: 2.10-3\nDescription: greeting\n" },
            "/var/lib/dpkg/info/hello.list": #{ text: "/.\n/usr\n/usr/bin\n/usr/bin/hello\n" },
            "/usr/bin/hello": #{ text: "hello\n", mode: 0o755 },
            "/usr/share/doc/hello/copyright": #{ text: "Format: copyright-format/1.0\n\nFiles: *\nCopyright: 2020 Jane Doe\nLicense: GPL-3+\n" },
            "/etc/motd": #{ text: "welcome\n" },
        }), #{ source_date_epoch: 1700000000 }) }"##;
    oci_image: "oci_image" version 1, "d05ed9a394fc2d5dabcaf186ed3108095ab67dd636b5d430067bc59368be5724",
        r##"#{ out: oci::image(tree("root", #{
            "/usr/bin/hello": #{ text: "hello\n", mode: 0o4755 },
            "/etc/shadow": #{ text: "root:*:1::::::\n", mode: 0o640, gid: 42 },
            "/bin": #{ symlink: "usr/bin" },
        }), #{ entrypoint: ["/usr/bin/hello"], env: #{ LANG: "C.UTF-8" }, source_date_epoch: 1700000000 }) }"##;
    debian_packages: "debian_packages" version 1, "c88fc64688db4b79a80dbe21d9bca95750b134f57b107a76c20a0e88a693f562",
        r##"#{ out: debian::packages(#{
            name: "golden",
            suites: ["test"],
            mirror: "file://@FIXTURE@/repo",
            variant: "custom",
            include: ["golden-app"],
            trusted: true,
        }) }"##;
}

/// Kinds whose golden digest is recorded in another test file, with where. The sandbox
/// needs the `imgbuild` binary as its helper, which only the workspace's own tests have.
const COVERED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "run",
        "tests/sandbox/trees.rs: the_run_kind_has_a_golden_output_digest",
    ),
    (
        "debian_configure",
        "tests/rootfs.rs: the_web_rootfs (two cold builds, root and an ordinary user: one digest)",
    ),
    (
        "debian_rootfs",
        "tests/rootfs.rs: the_web_rootfs and the declarative options",
    ),
    (
        "disk_raw",
        "tests/disk.rs: the_disk_kinds_have_golden_output_digests (mke2fs 1.47.1 or later)",
    ),
    (
        "disk_qcow2",
        "tests/disk.rs: the_disk_kinds_have_golden_output_digests",
    ),
    (
        "first_boot_agent",
        "builtins/tests/builders.rs: the_first_boot_agent_is_installed_with_its_units_and_scripts (without the agent's own bytes)",
    ),
    (
        "disk_vmdk",
        "tests/disk_layout.rs: every_format_from_one_graph_matches_the_raw_image_and_is_reproducible",
    ),
    (
        "signed_release",
        "tests/provenance.rs: sign_in_the_build_graph_keeps_the_key_out_of_the_store (its key is a secret)",
    ),
    (
        "disk_vhd",
        "tests/disk_layout.rs: every_format_from_one_graph_matches_the_raw_image_and_is_reproducible",
    ),
];

#[test]
fn every_kind_has_a_golden_digest() {
    let mut missing = Vec::new();
    for kind in BUILTINS.iter().flat_map(|builtin| builtin.kinds) {
        let here = CASES.iter().any(|(case, _, _)| *case == kind.name);
        let elsewhere = COVERED_ELSEWHERE.iter().any(|(case, _)| *case == kind.name);
        if !here && !elsewhere {
            missing.push(kind.name);
        }
    }
    assert!(
        missing.is_empty(),
        "builder kinds without a golden output digest in builtins/tests/golden.rs: {missing:?}"
    );
    for (kind, _, _) in CASES {
        assert!(
            BUILTINS
                .iter()
                .flat_map(|builtin| builtin.kinds)
                .any(|known| known.name == *kind),
            "golden case for `{kind}`, which no builtin builds"
        );
    }
}

/// Builds `recipe` (whose output `out` must be a derivation of `expected.kind`) from the
/// fixture and compares its kind version and output digest with `expected`.
fn check(expected: Golden, recipe: &str) {
    let kind = expected.kind;
    let directory = tempfile::tempdir().expect("temporary directory");
    let fixture = Fixture::write(directory.path());
    let recipe_path = directory.path().join("golden.rhai");
    let recipe = recipe
        .replace("@FIXTURE@", &directory.path().display().to_string())
        .replace("@PAYLOAD_SHA256@", PAYLOAD_SHA256);
    std::fs::write(&recipe_path, recipe).expect("write recipe");

    let mut evaluation = evaluate_with(&recipe_path, LockFile::default());
    if !evaluation.pending.is_empty() {
        let lock = fixture.lock(&evaluation);
        evaluation = evaluate_with(&recipe_path, lock);
        assert!(
            evaluation.pending.is_empty(),
            "the fixture's lock answers every request"
        );
    }
    let graph = &evaluation.graph;
    let output = graph
        .outputs()
        .iter()
        .find(|output| output.name == "out")
        .expect("the recipe has an output `out`");
    let derivation = &graph.node(output.derivation).derivation;
    assert_eq!(
        derivation.kind, kind,
        "the case builds the kind it is named after"
    );
    assert_eq!(
        derivation.kind_version, expected.version,
        "`{kind}`'s kind_version changed: record the new version and output digest here"
    );

    let store = Store::open(&directory.path().join("store")).expect("store");
    let builders = imgbuild_builtins::builder;
    let executor = LocalExecutor {
        builders: &builders,
    };
    // Not offline: `fetch` and the Debian set read `file://` URLs (no network).
    let config = BuildConfig::default();
    let options = Options {
        jobs: 1,
        keep_going: false,
        deep_check: false,
    };
    let outcome = imgbuild_engine::build(
        graph,
        &[output.derivation],
        &store,
        &executor,
        &config,
        &options,
        &Quiet,
    )
    .expect("the store works");
    let record = outcome.outputs.get(&output.derivation).unwrap_or_else(|| {
        panic!(
            "`{kind}` failed to build: {:?}",
            outcome
                .failed
                .iter()
                .map(|(_, message, _)| message)
                .collect::<Vec<_>>()
        )
    });
    let digest = record.digest().to_string();
    assert_eq!(
        digest, expected.digest,
        "the output digest of `{kind}` changed. If the builder's bytes changed on purpose, \
         bump `{kind}`'s kind_version and record the new digest in builtins/tests/golden.rs"
    );
}

/// Keeps nothing: the outcome carries what the check looks at.
struct Quiet;

impl EventSink for Quiet {
    fn event(&self, _graph: &Graph, _event: &Event) {}
}

fn evaluate_with(recipe: &Path, lock: LockFile) -> Evaluation {
    let lock = Rc::new(LockInput {
        file: lock,
        update: Update::Nothing,
    });
    // A fixed secret key: the fixture's private file makes `dir` secret (sealed).
    let options = EvalOptions {
        secret_key: Some(SecretKeySource(Rc::new(|| Ok([7; 32])))),
        ..EvalOptions::default()
    };
    evaluate(recipe, &options, &|engine, state| {
        imgbuild_builtins::register_with(engine, state, lock.clone())
    })
    .unwrap_or_else(|error| panic!("evaluation failed: {error}"))
}

/// One package of the fixture repository.
struct FixturePackage {
    name: &'static str,
    version: &'static str,
    /// Control fields between `Architecture` and `Description`.
    fields: &'static str,
    /// Control members besides `control`: (name, mode, contents).
    control: &'static [(&'static str, u32, &'static str)],
    /// Data entries: (path, mode, contents, symlink target). Directories end in `/`.
    data: &'static [(&'static str, u32, &'static str, &'static str)],
}

const PACKAGES: &[FixturePackage] = &[
    FixturePackage {
        name: "golden-base",
        version: "1.0",
        fields: "Essential: yes\nPriority: required\n",
        control: &[
            ("conffiles", 0o644, "/etc/golden.conf\n"),
            ("postinst", 0o755, "#!/bin/sh\nexit 0\n"),
        ],
        data: &[
            ("./", 0o755, "", ""),
            ("./etc/", 0o755, "", ""),
            ("./etc/golden.conf", 0o644, "setting=1\n", ""),
            ("./usr/", 0o755, "", ""),
            ("./usr/share/", 0o755, "", ""),
            ("./usr/share/doc/", 0o755, "", ""),
            ("./usr/share/doc/golden-base/", 0o755, "", ""),
            ("./usr/share/doc/golden-base/README", 0o644, "base\n", ""),
        ],
    },
    FixturePackage {
        name: "golden-app",
        version: "2.0-1",
        fields: "Depends: golden-base (>= 1.0)\nPriority: optional\n",
        control: &[],
        data: &[
            ("./", 0o755, "", ""),
            ("./bin/", 0o755, "", ""),
            ("./bin/golden", 0o755, "#!/bin/sh\necho golden\n", ""),
            ("./usr/", 0o755, "", ""),
            ("./usr/bin/", 0o755, "", ""),
            ("./usr/bin/golden-helper", 0o4755, "#!/bin/sh\n", ""),
            ("./usr/bin/golden-link", 0o777, "", "golden-helper"),
        ],
    },
];

/// The fixture directory: `data/` (local files), `payload.bin`, and `repo/` with the
/// `.deb`s of [`PACKAGES`].
struct Fixture {
    /// (package, its `.deb` bytes' SHA-256, size, file name below `repo/`).
    debs: Vec<(&'static FixturePackage, String, u64, String)>,
}

impl Fixture {
    fn write(root: &Path) -> Fixture {
        let write = |path: &str, bytes: &[u8], mode: u32| {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create directory");
            std::fs::write(&path, bytes).expect("write fixture file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("chmod fixture file");
        };
        write("data/hello.txt", b"hello, golden\n", 0o644);
        write("data/run.sh", b"#!/bin/sh\necho golden\n", 0o755);
        write("data/sub/nested.txt", b"nested\n", 0o600);
        std::os::unix::fs::symlink("hello.txt", root.join("data/link")).expect("symlink");
        write("payload.bin", PAYLOAD, 0o644);
        let mut debs = Vec::new();
        for package in PACKAGES {
            let bytes = deb(package);
            let filename = format!("pool/main/{}_{}_amd64.deb", package.name, package.version);
            write(&format!("repo/{filename}"), &bytes, 0o644);
            debs.push((
                package,
                hex::encode(sha2::Sha256::digest(&bytes)),
                bytes.len() as u64,
                filename,
            ));
        }
        Fixture { debs }
    }

    /// The lock file `imgbuild lock` would write for the evaluation's pending package
    /// sets: every fixture package, pinned by SHA-256.
    fn lock(&self, evaluation: &Evaluation) -> LockFile {
        let mut lock = LockFile {
            format: FORMAT.to_owned(),
            debian: Default::default(),
            libraries: Default::default(),
        };
        for pending in &evaluation.pending {
            let request = SetRequest::from_value(&pending.request).expect("a package set request");
            let mut packages: Vec<LockedPackage> = self
                .debs
                .iter()
                .map(|(package, sha256, size, filename)| LockedPackage {
                    name: package.name.to_owned(),
                    version: package.version.to_owned(),
                    architecture: "amd64".to_owned(),
                    repository: 0,
                    filename: filename.clone(),
                    size: *size,
                    sha256: sha256.clone(),
                })
                .collect();
            packages.sort_by(|left, right| left.name.cmp(&right.name));
            lock.debian.upsert(LockedSet {
                name: request.name.clone(),
                request: request.digest(),
                architecture: request.architecture.clone(),
                repositories: vec![LockedRepository {
                    suite: "test".to_owned(),
                    codename: "test".to_owned(),
                    date: "2023-11-14T22:13:20Z".to_owned(),
                    release_sha256: String::new(),
                    signed_by: String::new(),
                    indices: Vec::new(),
                }],
                packages,
            });
        }
        lock.debian.sort();
        lock
    }
}

/// The `.deb` of `package`: `debian-binary`, an uncompressed `control.tar` and
/// `data.tar`, every entry owned by root and dated [`DEB_MTIME`].
fn deb(package: &FixturePackage) -> Vec<u8> {
    let control_text = format!(
        "Package: {}\nVersion: {}\nArchitecture: amd64\nMaintainer: Golden <golden@example.org>\n{}Description: golden fixture {}\n",
        package.name, package.version, package.fields, package.name
    );
    let mut control = TarWriter::default();
    control.entry("./", 0o755, b"", "");
    control.entry("./control", 0o644, control_text.as_bytes(), "");
    for (name, mode, contents) in package.control {
        control.entry(&format!("./{name}"), *mode, contents.as_bytes(), "");
    }
    let mut data = TarWriter::default();
    for (path, mode, contents, target) in package.data {
        data.entry(path, *mode, contents.as_bytes(), target);
    }
    let mut bytes = b"!<arch>\n".to_vec();
    for (name, member) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", control.finish()),
        ("data.tar", data.finish()),
    ] {
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            name,
            DEB_MTIME,
            0,
            0,
            100644,
            member.len()
        );
        assert_eq!(header.len(), 60, "ar header of {name}");
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&member);
        if member.len() % 2 == 1 {
            bytes.push(b'\n');
        }
    }
    bytes
}

/// A tar stream as `dpkg-deb` writes one (GNU headers, root:root), entry by entry.
#[derive(Default)]
struct TarWriter {
    bytes: Vec<u8>,
}

impl TarWriter {
    /// A directory (`path` ends in `/`), a symlink (`target` non-empty) or a file.
    fn entry(&mut self, path: &str, mode: u32, contents: &[u8], target: &str) {
        let mut header = tar::Header::new_gnu();
        let kind = if path.ends_with('/') {
            tar::EntryType::Directory
        } else if !target.is_empty() {
            tar::EntryType::Symlink
        } else {
            tar::EntryType::Regular
        };
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        let link = &mut header.as_old_mut().linkname;
        link[..target.len()].copy_from_slice(target.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(DEB_MTIME);
        header.set_size(contents.len() as u64);
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.set_username("root").expect("user name");
            gnu.set_groupname("root").expect("group name");
        }
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(contents);
        let padding = (512 - contents.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, padding));
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.extend(std::iter::repeat_n(0u8, 1024));
        self.bytes
    }
}

/// The fixture's files are what the recorded digests were made from.
#[test]
fn the_fixture_is_what_the_digests_were_recorded_from() {
    assert_eq!(
        hex::encode(sha2::Sha256::digest(PAYLOAD)),
        PAYLOAD_SHA256,
        "payload.bin"
    );
    let debs: BTreeMap<&str, String> = PACKAGES
        .iter()
        .map(|package| {
            (
                package.name,
                hex::encode(sha2::Sha256::digest(deb(package))),
            )
        })
        .collect();
    let expected: BTreeMap<&str, String> = [
        (
            "golden-app",
            "317d2714e5c01cdc38ce6755f583b940990b44275bccb672ff855b95d6c524a0",
        ),
        (
            "golden-base",
            "ae9a90890172486580a97eb6ba0714c0fd71271b0a0abbbbdb21cb989042b27f",
        ),
    ]
    .into_iter()
    .map(|(name, sha256)| (name, sha256.to_owned()))
    .collect();
    assert_eq!(debs, expected, "the fixture's .deb bytes");
}
