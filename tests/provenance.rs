//! Provenance through the binary: SBOMs of a tree with a dpkg database, OCI images read
//! by skopeo and umoci, `imgbuild sign` / `imgbuild verify` with keys made by
//! `ssh-keygen` (and signatures checked by `ssh-keygen -Y verify`), `sign()` in the
//! build graph, and `imgbuild diff` between two results.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{imgbuild, run, scratch, Run};
use imgbuild_test_support::{require_root, require_tool};

/// A root with a two-package dpkg database, one file no package owns and a merged /usr.
pub const ROOT: &str = r##"
fn root(version, extra) {
    let status = "Package: hello\nStatus: install ok installed\nMaintainer: Jane Doe <jane@example.org>\nArchitecture: amd64\nVersion: " + version + "\nDescription: the classic greeting\n more text\nHomepage: https://example.org/hello\n\nPackage: libgreet1\nStatus: install ok installed\nMaintainer: Greet Team <greet@example.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: greet (1.2-1)\nVersion: 1.2-1+b1\nDescription: greeting library\n";
    let files = #{
        "/var/lib/dpkg/status": #{ text: status },
        "/var/lib/dpkg/info/hello.list": #{ text: "/.\n/usr\n/usr/bin\n/bin/hello\n/usr/share/doc/hello/copyright\n" },
        "/var/lib/dpkg/info/libgreet1:amd64.list": #{ text: "/.\n/usr/lib/libgreet.so.1\n/usr/share/doc/libgreet1\n" },
        "/usr/bin/hello": #{ text: "#!/bin/sh\necho hello " + version + "\n", mode: 0o755 },
        "/usr/lib/libgreet.so.1": #{ text: "not really a library\n" },
        "/usr/share/doc/hello/copyright": #{ text: "Format: copyright-format/1.0\n\nFiles: *\nCopyright: 2020 Jane Doe\nLicense: GPL-3+\n\nFiles: lib/*\nCopyright: 2021 Jane Doe\nLicense: Expat\n" },
        "/usr/share/doc/libgreet1": #{ symlink: "hello" },
        "/bin": #{ symlink: "usr/bin" },
        "/etc/motd": #{ text: "welcome\n" },
        "/usr/bin/passwd": #{ text: "setuid\n", mode: 0o4755 },
        "/etc/shadow": #{ text: "root:*:19000::::::\n", mode: 0o640, gid: 42 },
        "/home/user/notes": #{ text: "mine\n", uid: 1000, gid: 1000, mode: 0o600 },
    };
    if extra { files["/etc/extra"] = #{ text: "new\n" }; }
    tree("root", files)
}
"##;

fn write_recipe(directory: &Path, name: &str, body: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, format!("{ROOT}\n{body}")).expect("recipe");
    path
}

fn cli(directory: &Path, store: &Path, arguments: &[&str]) -> Run {
    let mut command = imgbuild(directory);
    command.arg("--store").arg(store).args(arguments);
    run(&mut command)
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("document")).expect("JSON")
}

#[test]
fn an_sbom_lists_the_packages_and_the_files_no_package_owns() {
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    write_recipe(
        directory,
        "sbom.rhai",
        r#"let r = root("2.10-3", false); #{ spdx: sbom::spdx(r, #{ name: "hello", source_date_epoch: 1700000000 }) }"#,
    );
    cli(directory, &store, &["build", "sbom.rhai"]).success();
    // The SPDX project's own validator accepts it.
    common::check_spdx(&directory.join("result/spdx.spdx.json"));
    let spdx = json_file(&directory.join("result/spdx.spdx.json"));
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let packages = spdx["packages"].as_array().expect("packages");
    let hello = packages
        .iter()
        .find(|package| package["SPDXID"] == "SPDXRef-Package-deb-hello-amd64")
        .expect("hello");
    assert_eq!(hello["versionInfo"], "2.10-3");
    assert_eq!(hello["licenseDeclared"], "GPL-3.0-or-later AND MIT");
    let greet = packages
        .iter()
        .find(|package| package["name"] == "libgreet1")
        .expect("libgreet1");
    // Its doc directory is a symbolic link to hello's: the same copyright file.
    assert_eq!(greet["licenseDeclared"], "GPL-3.0-or-later AND MIT");
    assert!(
        greet["sourceInfo"].as_str().unwrap_or("").contains("greet"),
        "{greet}"
    );
    let files: Vec<&str> = spdx["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|file| file["fileName"].as_str())
        .collect();
    // /bin/hello in the list is /usr/bin/hello through /bin -> usr/bin; the database is
    // what the document is made of.
    assert!(
        files.iter().any(|name| name.ends_with("/etc/motd")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|name| name.ends_with("/usr/bin/passwd")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|name| name.ends_with("/usr/bin/hello")),
        "{files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|name| name.ends_with("/usr/lib/libgreet.so.1")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|name| name.contains("var/lib/dpkg")),
        "{files:?}"
    );
    let motd = spdx["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|file| {
            file["fileName"]
                .as_str()
                .is_some_and(|name| name.ends_with("/etc/motd"))
        })
        .expect("motd");
    // sha256sum of "welcome\n".
    let sha256 = "0dcd4b5a8ec6a2e3b5a1c5e8cdbd6ff6e0d3bd9b7b4fcbd2c9c1e0bdc6fe1b28";
    let written = directory.join("motd");
    std::fs::write(&written, "welcome\n").expect("motd");
    let expected = common::sha256(&written);
    assert!(
        motd["checksums"].to_string().contains(&expected),
        "{motd} (not {sha256})"
    );

    // The same recipe in another store: the same bytes.
    let again = directory.join("again");
    let other_store = directory.join("store2");
    cli(
        directory,
        &other_store,
        &["build", "sbom.rhai", "-o", again.to_str().expect("path")],
    )
    .success();
    assert_eq!(
        std::fs::read(directory.join("result/spdx.spdx.json")).expect("one"),
        std::fs::read(again.join("spdx.spdx.json")).expect("two")
    );
}

#[test]
fn an_oci_image_is_read_by_skopeo_and_unpacked_by_umoci_with_owners_and_modes() {
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let Some(umoci) = require_tool("umoci") else {
        return;
    };
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    write_recipe(
        directory,
        "oci.rhai",
        r#"#{ image: oci::image(root("2.10-3", false), #{ name: "hello", entrypoint: ["/usr/bin/hello"],
              env: #{ LANG: "C.UTF-8" }, user: "1000:1000", labels: #{ team: "platform" },
              exposed_ports: ["80/tcp"], source_date_epoch: 1700000000 }) }"#,
    );
    cli(directory, &store, &["build", "oci.rhai"]).success();
    let layout = directory.join("result/image");
    let layout = if layout.is_dir() {
        layout
    } else {
        directory.join("result/image.tar")
    };
    assert!(layout.is_dir(), "the layout is a directory (as root)");
    let reference = format!("oci:{}:latest", layout.display());
    let config = common::run_tool(Command::new(&skopeo).args(["inspect", "--config", &reference]));
    let config: serde_json::Value = serde_json::from_str(&config).expect("config");
    assert_eq!(
        config["config"]["Entrypoint"][0], "/usr/bin/hello",
        "{config}"
    );
    assert_eq!(config["config"]["User"], "1000:1000", "{config}");
    assert_eq!(config["config"]["Labels"]["team"], "platform", "{config}");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{config}");
    // skopeo checks every digest on the way.
    let copied = directory.join("copied");
    common::run_tool(
        Command::new(&skopeo)
            .args(["copy", &reference])
            .arg(format!("dir:{}", copied.display())),
    );

    if require_root("umoci unpack applies the layer's owners").is_none() {
        return;
    }
    let bundle = directory.join("bundle");
    common::run_tool(
        Command::new(&umoci)
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:latest", layout.display()))
            .arg(&bundle),
    );
    use std::os::unix::fs::MetadataExt;
    let rootfs = bundle.join("rootfs");
    for (path, mode, uid, gid, content) in [
        ("usr/bin/passwd", 0o4755, 0, 0, Some("setuid\n")),
        ("etc/shadow", 0o640, 0, 42, Some("root:*:19000::::::\n")),
        ("home/user/notes", 0o600, 1000, 1000, Some("mine\n")),
        ("usr/bin/hello", 0o755, 0, 0, None),
    ] {
        let metadata = std::fs::symlink_metadata(rootfs.join(path)).expect(path);
        assert_eq!(metadata.mode() & 0o7777, mode, "{path}");
        assert_eq!((metadata.uid(), metadata.gid()), (uid, gid), "{path}");
        if let Some(content) = content {
            assert_eq!(
                std::fs::read_to_string(rootfs.join(path)).expect(path),
                content,
                "{path}"
            );
        }
    }
    assert_eq!(
        std::fs::read_link(rootfs.join("bin")).expect("bin"),
        PathBuf::from("usr/bin")
    );

    // Another store, the same image: the same manifest digest.
    let other = directory.join("other");
    cli(
        directory,
        &directory.join("store2"),
        &["build", "oci.rhai", "-o", other.to_str().expect("path")],
    )
    .success();
    assert_eq!(
        std::fs::read(layout.join("index.json")).expect("index"),
        std::fs::read(other.join("image/index.json")).expect("index again")
    );
}

/// A key pair made by ssh-keygen: (private key path, public key line).
fn key(directory: &Path, name: &str) -> (PathBuf, String) {
    let path = directory.join(format!("{name}_ed25519"));
    common::run_tool(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
            .arg(&path),
    );
    let public = std::fs::read_to_string(path.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", path.display())))
        .expect("public key");
    (path, public.trim().to_owned())
}

/// `ssh-keygen -Y verify` accepts `principal`'s signature of the release in `release`,
/// with an allowed-signers file holding `public_key` for the `imgbuild-release` namespace.
fn ssh_keygen_verifies(ssh_keygen: &Path, release: &Path, principal: &str, public_key: &str) {
    let allowed = release.with_extension("allowed_signers");
    std::fs::write(
        &allowed,
        format!("{principal} namespaces=\"imgbuild-release\" {public_key}\n"),
    )
    .expect("allowed signers");
    let checked = Command::new(ssh_keygen)
        .args([
            "-Y",
            "verify",
            "-n",
            "imgbuild-release",
            "-I",
            principal,
            "-f",
        ])
        .arg(&allowed)
        .arg("-s")
        .arg(release.join(format!("imgbuild-release.json.{principal}.sig")))
        .stdin(std::fs::File::open(release.join("imgbuild-release.json")).expect("manifest"))
        .output()
        .expect("ssh-keygen");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

fn policy(
    directory: &Path,
    name: &str,
    required: usize,
    trusted: &[(&str, &str)],
    banned: &[(&str, &str)],
) -> PathBuf {
    let mut text = format!("required = {required}\n");
    for (endorser, key) in trusted {
        text.push_str(&format!(
            "[[trusted]]\nname = \"{endorser}\"\nkey = \"{key}\"\n"
        ));
    }
    for (endorser, key) in banned {
        text.push_str(&format!(
            "[[banned]]\nname = \"{endorser}\"\nkey = \"{key}\"\n"
        ));
    }
    let path = directory.join(name);
    std::fs::write(&path, text).expect("policy");
    path
}

#[test]
fn a_signed_result_verifies_and_every_tampering_is_refused_with_its_reason() {
    let Some(ssh_keygen) = require_tool("ssh-keygen") else {
        return;
    };
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    write_recipe(
        directory,
        "release.rhai",
        r#"let r = root("2.10-3", false); #{ image: tar(r), "image.spdx.json": sbom::spdx(r) }"#,
    );
    cli(directory, &store, &["build", "release.rhai"]).success();
    let result = directory.join("result");
    let (alice, alice_public) = key(directory, "alice");
    let (bob, bob_public) = key(directory, "bob");
    let (mallory, mallory_public) = key(directory, "mallory");
    let (eve, _) = key(directory, "eve");
    let sign = |key: &Path, name: &str| {
        cli(
            directory,
            &store,
            &[
                "sign",
                "result",
                "--key",
                key.to_str().expect("key"),
                "--name",
                name,
            ],
        )
    };
    sign(&alice, "alice@example.org").success();
    let manifest = result.join("imgbuild-release.json");
    let document = json_file(&manifest);
    assert_eq!(document["sbom"]["name"], "image.spdx.json", "{document}");
    assert!(document["lock_sha256"].is_null() || document["lock_sha256"].is_string());
    assert_eq!(
        document["outputs"].as_array().expect("outputs").len(),
        2,
        "{document}"
    );

    // ssh-keygen checks our signature with the policy's allowed-signers form.
    let one = policy(
        directory,
        "one.toml",
        1,
        &[("alice@example.org", &alice_public)],
        &[],
    );
    ssh_keygen_verifies(&ssh_keygen, &result, "alice@example.org", &alice_public);
    // An ECDSA key cannot sign here: refused by name, with the way out.
    let ecdsa = directory.join("ecdsa");
    common::run_tool(
        Command::new(&ssh_keygen)
            .args(["-q", "-t", "ecdsa", "-N", "", "-f"])
            .arg(&ecdsa),
    );
    let refused = sign(&ecdsa, "carol@example.org");
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("ssh-keygen -t ed25519"),
        "{}",
        refused.stderr
    );

    let verify = |policy: &Path| {
        cli(
            directory,
            &store,
            &[
                "verify",
                "result",
                "--policy",
                policy.to_str().expect("policy"),
            ],
        )
    };
    let passed = verify(&one);
    passed.success();
    assert!(
        passed.stdout.contains("alice@example.org"),
        "{}",
        passed.stdout
    );

    // Two required: alice alone is not enough, alice and bob are.
    let two = policy(
        directory,
        "two.toml",
        2,
        &[
            ("alice@example.org", &alice_public),
            ("bob@example.org", &bob_public),
        ],
        &[],
    );
    let short = verify(&two);
    short.expect_code(1);
    assert!(short.stdout.contains("refused"), "{}", short.stdout);
    sign(&bob, "bob@example.org").success();
    verify(&two).success();

    // A banned endorser's signature fails the release even with enough trusted ones.
    sign(&mallory, "mallory@example.org").success();
    let banned = policy(
        directory,
        "banned.toml",
        2,
        &[
            ("alice@example.org", &alice_public),
            ("bob@example.org", &bob_public),
        ],
        &[("mallory@example.org", &mallory_public)],
    );
    let refused = verify(&banned);
    refused.expect_code(1);
    assert!(refused.stdout.contains("banned"), "{}", refused.stdout);
    std::fs::remove_file(result.join("imgbuild-release.json.mallory@example.org.sig"))
        .expect("remove");

    // An unknown key does not count.
    sign(&eve, "eve@example.org").success();
    let only_eve = policy(
        directory,
        "eve.toml",
        1,
        &[("carol@example.org", &mallory_public)],
        &[],
    );
    let unknown = verify(&only_eve);
    unknown.expect_code(1);
    assert!(unknown.stdout.contains("unknown key"), "{}", unknown.stdout);

    // A modified output: refused, naming it.
    let image = result.join("image.tar");
    let mut bytes = std::fs::read(&image).expect("image");
    bytes[600] ^= 1;
    std::fs::write(&image, &bytes).expect("tamper");
    let modified = verify(&one);
    modified.expect_code(1);
    assert!(modified.stdout.contains("image.tar"), "{}", modified.stdout);
    bytes[600] ^= 1;
    std::fs::write(&image, &bytes).expect("restore");
    verify(&one).success();

    // Another SBOM than the signed one: refused, naming it.
    let sbom = result.join("image.spdx.json");
    let original = std::fs::read(&sbom).expect("sbom");
    std::fs::write(&sbom, b"{}\n").expect("replace the sbom");
    let other_sbom = verify(&one);
    other_sbom.expect_code(1);
    assert!(
        other_sbom
            .stdout
            .contains("image.spdx.json: sha256 differs"),
        "{}",
        other_sbom.stdout
    );
    std::fs::write(&sbom, &original).expect("restore the sbom");
    verify(&one).success();

    // A manifest whose SBOM digest does not match its SBOM output: refused with that
    // reason (and its signatures no longer hold).
    let signed = std::fs::read_to_string(&manifest).expect("manifest");
    let sbom_sha256 = document["sbom"]["sha256"]
        .as_str()
        .expect("sha256")
        .to_owned();
    let forged = signed.replacen(
        &format!("\"sha256\": \"{sbom_sha256}\""),
        &format!("\"sha256\": \"{}\"", "0".repeat(64)),
        1,
    );
    assert_ne!(forged, signed, "the SBOM reference is in the manifest");
    std::fs::write(&manifest, &forged).expect("forge");
    let mismatch = verify(&one);
    mismatch.expect_code(1);
    assert!(
        mismatch.stdout.contains("the SBOM's digest does not match"),
        "{}",
        mismatch.stdout
    );
    std::fs::write(&manifest, &signed).expect("restore the manifest");
    verify(&one).success();

    // A bad policy is a usage error pointing at the file.
    let broken = directory.join("broken.toml");
    std::fs::write(&broken, "required = \"two\"\n").expect("policy");
    let bad = verify(&broken);
    bad.expect_code(2);
    assert!(bad.stderr.contains("broken.toml"), "{}", bad.stderr);
}

#[test]
fn sign_in_the_build_graph_keeps_the_key_out_of_the_store() {
    let Some(ssh_keygen) = require_tool("ssh-keygen") else {
        return;
    };
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    // The committed test key of imgbuild-provenance: fixed bytes, so the signature is a
    // golden value (Ed25519 signatures are deterministic).
    let alice = directory.join("alice_ed25519");
    std::fs::copy(
        common::workspace().join("provenance/tests/data/alice_ed25519"),
        &alice,
    )
    .expect("key");
    let alice_public = std::fs::read_to_string(
        common::workspace().join("provenance/tests/data/alice_ed25519.pub"),
    )
    .expect("public key")
    .trim()
    .to_owned();
    write_recipe(
        directory,
        "graph.rhai",
        r#"let r = root("2.10-3", false);
           #{ release: sign(#{ "image.tar": tar(r), "image.spdx.json": sbom::spdx(r) },
                            #{ key: args.release_key, name: "alice@example.org" }) }"#,
    );
    let secret = format!("release_key=file:{}", alice.display());
    cli(
        directory,
        &store,
        &["build", "graph.rhai", "--secret", &secret],
    )
    .success();
    let release = directory.join("result/release");
    assert!(release.join("image.tar").is_file());
    let one = policy(
        directory,
        "one.toml",
        1,
        &[("alice@example.org", &alice_public)],
        &[],
    );
    cli(
        directory,
        &store,
        &[
            "verify",
            release.to_str().expect("path"),
            "--policy",
            one.to_str().expect("policy"),
        ],
    )
    .success();
    ssh_keygen_verifies(&ssh_keygen, &release, "alice@example.org", &alice_public);
    // The private key's base64 body appears in no file of the store and no log.
    let private = std::fs::read_to_string(&alice).expect("key");
    let needle: String = private.lines().nth(1).expect("key body").to_owned();
    for file in common::files_below(&store) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
    // The golden bytes of the `signed_release` kind: its manifest and signature.
    assert_eq!(
        common::sha256(&release.join("imgbuild-release.json")),
        "1f138ddbcc13b8cb6cb192fc0b78c8189b2297ca799204c6adde4b91f2e4b064",
        "the manifest of `signed_release` changed: bump its kind_version and record the new digest"
    );
    assert_eq!(
        common::sha256(&release.join("imgbuild-release.json.alice@example.org.sig")),
        "cd0353d886b8d711cf63954a2b402da60012bbdecf809e84285bf434021282ba",
        "the signature of `signed_release` changed: bump its kind_version and record the new digest"
    );
    // Ed25519 is deterministic: a second store gives the same signature.
    let other = directory.join("other");
    cli(
        directory,
        &directory.join("store2"),
        &[
            "build",
            "graph.rhai",
            "--secret",
            &secret,
            "-o",
            other.to_str().expect("path"),
        ],
    )
    .success();
    assert_eq!(
        std::fs::read(release.join("imgbuild-release.json.alice@example.org.sig")).expect("one"),
        std::fs::read(other.join("release/imgbuild-release.json.alice@example.org.sig"))
            .expect("two")
    );
}

#[test]
fn diff_names_the_packages_and_files_that_changed() {
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    write_recipe(
        directory,
        "v1.rhai",
        r#"#{ root: root("2.10-3", false), image: tar(root("2.10-3", false)) }"#,
    );
    write_recipe(
        directory,
        "v2.rhai",
        r#"#{ root: root("2.12-1", true), image: tar(root("2.12-1", true)) }"#,
    );
    cli(directory, &store, &["build", "v1.rhai", "-o", "one"]).success();
    cli(directory, &store, &["build", "v2.rhai", "-o", "two"]).success();
    let root_one = if directory.join("one/root").exists() {
        "one/root"
    } else {
        "one/root.tar"
    };
    let root_two = if directory.join("two/root").exists() {
        "two/root"
    } else {
        "two/root.tar"
    };
    let shown = cli(directory, &store, &["diff", root_one, root_two]);
    shown.success();
    assert!(
        shown.stdout.contains("hello 2.10-3 -> 2.12-1"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("+ /etc/extra"), "{}", shown.stdout);
    assert!(shown.stdout.contains("/usr/bin/hello"), "{}", shown.stdout);
    assert!(!shown.stdout.contains("/etc/motd"), "{}", shown.stdout);
    let json = cli(directory, &store, &["diff", root_one, root_two, "--json"]);
    json.success();
    let document: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(document["packages"][0]["change"], "upgraded", "{document}");
    assert!(
        document["statistics"]["skipped_subtrees"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{document}"
    );
    // A tar result is compared through the tree it holds.
    let tars = cli(
        directory,
        &store,
        &["diff", "one/image.tar", "two/image.tar", "--json"],
    );
    tars.success();
    let through_tar: serde_json::Value = serde_json::from_str(&tars.stdout).expect("JSON");
    assert_eq!(through_tar["files"], document["files"]);
    // Recipe outputs: the same answer.
    let by_recipe = cli(
        directory,
        &store,
        &["diff", "v1.rhai#root", "v2.rhai#root", "--json"],
    );
    by_recipe.success();
    let again: serde_json::Value = serde_json::from_str(&by_recipe.stdout).expect("JSON");
    assert_eq!(again["files"], document["files"]);
    // Neither a result nor a recipe output: a usage error.
    cli(directory, &store, &["diff", "nothing-here", root_two]).expect_code(2);
}

#[test]
fn mistakes_are_named_with_the_right_exit_status() {
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    let check = |recipe: &str, arguments: &[&str], code: i32, mentions: &[&str]| {
        write_recipe(directory, "mistake.rhai", recipe);
        let mut all = vec!["build", "mistake.rhai"];
        all.extend_from_slice(arguments);
        let run = cli(directory, &store, &all);
        run.expect_code(code);
        for mention in mentions {
            assert!(
                run.stderr.contains(mention),
                "`{mention}` not in:\n{}",
                run.stderr
            );
        }
    };
    // At evaluation, pointing at the call.
    check(
        r#"#{ x: oci::image(root("1", false), #{ compression: "lz4" }) }"#,
        &[],
        2,
        &["unknown compression `lz4`", "mistake.rhai:"],
    );
    check(
        r#"#{ x: oci::image(root("1", false), #{ entrypiont: ["/bin/sh"] }) }"#,
        &[],
        2,
        &["entrypiont", "entrypoint"],
    );
    check(
        r#"#{ x: oci::image(root("1", false), #{ env: ["NOEQUALS"] }) }"#,
        &[],
        2,
        &["`NOEQUALS` is not KEY=VALUE"],
    );
    check(
        r#"#{ x: sign(text("a", "b"), #{ key: "not a secret", name: "alice" }) }"#,
        &[],
        2,
        &["`key`", "secret"],
    );
    check(
        r#"#{ x: sign(text("a", "b"), #{ key: secret("k") }) }"#,
        &[],
        2,
        &["`name`"],
    );
    // At build time, naming the derivation and its recipe line.
    check(
        r#"#{ x: sbom::spdx(text("a", "b")) }"#,
        &[],
        1,
        &["is a file, not a tree", "mistake.rhai:"],
    );
    check(
        r#"#{ x: sign(text("a", "b"), #{ key: secret("not a key"), name: "alice" }) }"#,
        &[],
        1,
        &["the key of `alice`"],
    );
    // The commands.
    let usage = |arguments: &[&str], mentions: &[&str]| {
        let run = cli(directory, &store, arguments);
        run.expect_code(2);
        for mention in mentions {
            assert!(
                run.stderr.contains(mention),
                "`{mention}` not in:\n{}",
                run.stderr
            );
        }
    };
    std::fs::create_dir_all(directory.join("plain")).expect("directory");
    usage(
        &["sign", "plain", "--key", "nothing", "--name", "alice"],
        &["not a result directory"],
    );
    usage(
        &["verify", "plain", "--policy", "nothing.toml"],
        &["nothing.toml"],
    );
    write_recipe(directory, "ok.rhai", r#"#{ t: text("t", "hello\n") }"#);
    cli(directory, &store, &["build", "ok.rhai"]).success();
    std::fs::write(
        directory.join("garbage_key"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n",
    )
    .expect("key");
    usage(
        &["sign", "result", "--key", "garbage_key", "--name", "alice"],
        &["--key"],
    );
    usage(
        &["sign", "result", "--key", "garbage_key", "--name", "al ice"],
        &["--name"],
    );
    usage(
        &[
            "sign",
            "result",
            "--key",
            "garbage_key",
            "--name",
            "alice",
            "--output",
            "missing",
        ],
        &["no such output"],
    );
    std::fs::write(directory.join("empty.toml"), "required = 1\n").expect("policy");
    usage(
        &["verify", "result", "--policy", "empty.toml"],
        &["empty.toml"],
    );
    usage(&["diff", "result/t", "result/t"], &["not made from a tree"]);
    usage(
        &["diff", "nothing-here", "result/t"],
        &["neither a result nor a recipe output"],
    );
}

#[test]
fn an_ordinary_user_gets_oci_archives_and_signs_and_verifies_them() {
    let Some(runuser) = common::require_user("imgbuild-test", "build and sign as an ordinary user")
    else {
        return;
    };
    let Some(skopeo) = require_tool("skopeo") else {
        return;
    };
    let work = scratch();
    let directory = work.path();
    std::fs::set_permissions(
        directory,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let (binary, _guard) = common::binary_for(&runuser, "imgbuild-test");
    let (alice, alice_public) = key(directory, "alice");
    write_recipe(
        directory,
        "user.rhai",
        r#"let r = root("2.10-3", false);
           let image = oci::image(r, #{ name: "image" });
           #{ image: image, release: sign(#{ "image": image }, #{ key: args.k, name: "alice@example.org" }) }"#,
    );
    let one = policy(
        directory,
        "one.toml",
        1,
        &[("alice@example.org", &alice_public)],
        &[],
    );
    common::give_to("imgbuild-test", directory);
    let as_user = |arguments: &[&str]| {
        let mut command = Command::new(&runuser);
        command
            .args(["-u", "imgbuild-test", "--"])
            .arg(&binary)
            .arg("--store")
            .arg(directory.join("store"))
            .args(arguments)
            .current_dir(directory)
            .env_remove("IMGBUILD_STORE");
        run(&mut command)
    };
    let secret = format!("k=file:{}", alice.display());
    as_user(&["build", "user.rhai", "--secret", &secret]).success();
    // The layout's tree is owned by root: an ordinary user gets it as an OCI archive.
    let archive = directory.join("result/image.tar");
    assert!(archive.is_file());
    let inspected = Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .expect("skopeo");
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    // The release made in the graph is a tar too: verify reads it as it is.
    as_user(&[
        "verify",
        "result/release.tar",
        "--policy",
        one.to_str().expect("policy"),
    ])
    .success();
    // Signing the result directory names the tars as they are on disk.
    as_user(&[
        "sign",
        "result",
        "--key",
        alice.to_str().expect("key"),
        "--name",
        "alice@example.org",
    ])
    .success();
    as_user(&[
        "verify",
        "result",
        "--policy",
        one.to_str().expect("policy"),
    ])
    .success();
    let manifest = json_file(&directory.join("result/imgbuild-release.json"));
    assert!(
        manifest["outputs"].to_string().contains("\"image.tar\""),
        "{manifest}"
    );
}

#[test]
fn diff_compares_disk_images_and_oci_images_through_their_roots() {
    if common::require_mke2fs().is_none() {
        return;
    }
    let work = scratch();
    let directory = work.path();
    let store = directory.join("store");
    for (name, version, extra) in [("v1", "2.10-3", "false"), ("v2", "2.12-1", "true")] {
        write_recipe(
            directory,
            &format!("{name}.rhai"),
            &format!(
                r#"let r = root("{version}", {extra});
                   #{{ disk: disk::image(#{{ root: r, name: "disk", format: "qcow2", boot: "none", source_date_epoch: 1700000000 }}),
                      oci: oci::image(r, #{{ name: "oci" }}) }}"#
            ),
        );
        cli(
            directory,
            &store,
            &["build", &format!("{name}.rhai"), "-o", name],
        )
        .success();
    }
    let oci_one = if directory.join("v1/oci").exists() {
        "v1/oci"
    } else {
        "v1/oci.tar"
    };
    let oci_two = if directory.join("v2/oci").exists() {
        "v2/oci"
    } else {
        "v2/oci.tar"
    };
    for (before, after) in [("v1/disk.qcow2", "v2/disk.qcow2"), (oci_one, oci_two)] {
        let shown = cli(directory, &store, &["diff", before, after]);
        shown.success();
        assert!(
            shown.stdout.contains("hello 2.10-3 -> 2.12-1"),
            "{before}: {}",
            shown.stdout
        );
        assert!(
            shown.stdout.contains("+ /etc/extra"),
            "{before}: {}",
            shown.stdout
        );
    }
    // The same image on both sides: nothing, and the root compared without reading it.
    let same = cli(
        directory,
        &store,
        &["diff", "v1/disk.qcow2", oci_one, "--json"],
    );
    same.success();
    let document: serde_json::Value = serde_json::from_str(&same.stdout).expect("JSON");
    assert_eq!(document["files"], serde_json::json!([]), "{document}");
    assert_eq!(
        document["statistics"]["compared_directories"], 0,
        "{document}"
    );
}
