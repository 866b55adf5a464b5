//! `debian::rootfs` end to end on the real Debian archive (slow: IMGBUILD_SLOW_TESTS=1,
//! network, root for the ordinary-user comparison).
//!
//! One test builds the web root filesystem (minbase, systemd-sysv, the cloud kernel,
//! nginx, OpenSSH, ifupdown, isc-dhcp-client) cold three times — twice as root into
//! fresh stores, once as an ordinary user with a subordinate range — and requires one
//! tree identity (the golden check of `debian_configure` and `debian_rootfs`, whose
//! bytes follow the archive's current packages), then checks the tree: every package
//! "install ok installed", de-personalized, the initramfs present, the options applied.
//! The other checks the options' errors against the configured tree in the same store.

mod common;

use std::path::Path;
use std::process::Command;

use common::{binary_for, give_to, imgbuild, require_user, scratch, unwrapped};
use imgbuild_test_support::{require, require_network, require_root, require_slow_tests};

const TEST_USER: &str = "imgbuild-test";

const PACKAGES: &str = r#"let pkgs = debian::packages(#{
    name: "web",
    suite: "bookworm",
    variant: "minbase",
    include: ["systemd-sysv", "linux-image-cloud-amd64", "nginx", "openssh-server",
              "ifupdown", "isc-dhcp-client"],
});
"#;

const OPTIONS: &str = r#"
let site = tree("site", #{ "/var/www/html/index.html": text("index", "<h1>hello</h1>\n") });
let root = debian::rootfs(pkgs, #{
    name: "web-root",
    overlays: [site],
    services: #{ enable: ["nginx"], disable: ["e2scrub_reap"] },
    groups: [#{ name: "deploy" }],
    users: [#{ name: "admin", groups: ["deploy"], shell: "/bin/bash",
               ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenGoldenGoldenGoldenGoldenGoldenGolden admin@laptop"] }],
    hostname: "web",
    timezone: "Etc/UTC",
    scripts: ["echo built > /etc/built-by"],
    source_date_epoch: 1700000000,
});
#{ "web-root": root }
"#;

/// Writes the recipe (and a lock made by a first build) into `directory`.
fn project(directory: &Path, body: &str) {
    std::fs::write(directory.join("web.rhai"), format!("{PACKAGES}{body}")).expect("recipe");
}

/// `imgbuild build --json` as us or as `user`; returns (exit code, stdout, stderr).
fn build(directory: &Path, store: &str, user: Option<(&Path, &Path)>) -> (i32, String, String) {
    build_with(directory, store, user, "--json")
}

/// [`build`] with `format` (`--json`, or `--keep-going` for the human report).
fn build_with(
    directory: &Path,
    store: &str,
    user: Option<(&Path, &Path)>,
    format: &str,
) -> (i32, String, String) {
    let mut command = match user {
        None => {
            let mut command = imgbuild(directory);
            command.args(["build", "web.rhai", format, "--store", store]);
            command
        }
        Some((runuser, binary)) => {
            let mut command = Command::new(runuser);
            command
                .current_dir(directory)
                .args(["-u", TEST_USER, "--"])
                .arg(binary)
                .args(["build", "web.rhai", format, "--store", store]);
            command
        }
    };
    let output = command.output().expect("run imgbuild");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn output_digest(stdout: &str, name: &str) -> String {
    common::json_lines(stdout)
        .iter()
        .find(|event| event["event"] == "output" && event["name"] == name)
        .and_then(|event| event["output"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no output event for {name}:\n{stdout}"))
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn the_web_rootfs_is_configured_reproducible_and_the_same_for_an_ordinary_user() {
    require!(require_slow_tests());
    require!(require_network());
    require!(require_root("compare with a build as an ordinary user"));
    let runuser = require!(require_user(TEST_USER, "build as an ordinary user"));
    let work = scratch();
    let directory = work.path();
    project(directory, OPTIONS);
    let (code, first, stderr) = build(directory, "store-a", None);
    assert_eq!(code, 0, "{stderr}");
    let (code, second, stderr) = build(directory, "store-b", None);
    assert_eq!(code, 0, "{stderr}");
    let digest = output_digest(&first, "web-root");
    assert_eq!(
        digest,
        output_digest(&second, "web-root"),
        "two cold builds"
    );

    let (binary, _keep) = binary_for(&runuser, TEST_USER);
    let user_directory = directory.join("user");
    std::fs::create_dir(&user_directory).expect("user directory");
    for file in ["web.rhai", "web.lock"] {
        std::fs::copy(directory.join(file), user_directory.join(file)).expect("copy");
    }
    give_to(TEST_USER, &user_directory);
    let (code, rootless, stderr) = build(&user_directory, "store", Some((&runuser, &binary)));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        digest,
        output_digest(&rootless, "web-root"),
        "as {TEST_USER}"
    );
    println!("web-root tree identity (output digest): {digest}");

    let root = directory.join("result/.imgbuild-private/web-root");
    let status = read(&root, "var/lib/dpkg/status");
    let states: Vec<&str> = status
        .lines()
        .filter_map(|line| line.strip_prefix("Status: "))
        .collect();
    assert!(states.len() > 140, "{} packages", states.len());
    assert!(
        states.iter().all(|state| *state == "install ok installed"),
        "{states:?}"
    );
    for gone in [
        "etc/ssh/ssh_host_ed25519_key",
        "etc/ssh/ssh_host_rsa_key.pub",
        "var/log/dpkg.log",
        "var/cache/ldconfig/aux-cache",
        "usr/sbin/policy-rc.d",
        "etc/dpkg/dpkg.cfg.d/imgbuild-unsafe-io",
        "usr/sbin/start-stop-daemon.REAL",
    ] {
        assert!(!root.join(gone).exists(), "{gone} is left");
    }
    assert_eq!(read(&root, "etc/machine-id"), "");
    let kernels: Vec<String> = std::fs::read_dir(root.join("boot"))
        .expect("boot")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        kernels.iter().any(|name| name.starts_with("vmlinuz-")),
        "{kernels:?}"
    );
    assert!(
        kernels.iter().any(|name| name.starts_with("initrd.img-")),
        "{kernels:?}"
    );
    // The options.
    assert_eq!(read(&root, "etc/hostname"), "web\n");
    assert_eq!(read(&root, "etc/built-by"), "built\n");
    assert_eq!(read(&root, "var/www/html/index.html"), "<h1>hello</h1>\n");
    let passwd = read(&root, "etc/passwd");
    let admin: Vec<&str> = passwd
        .lines()
        .find(|line| line.starts_with("admin:"))
        .unwrap_or_else(|| panic!("no admin in /etc/passwd:\n{passwd}"))
        .split(':')
        .collect();
    assert_eq!(admin[5..], ["/home/admin", "/bin/bash"], "{admin:?}");
    let group = read(&root, "etc/group");
    let deploy = group
        .lines()
        .find(|line| line.starts_with("deploy:"))
        .unwrap_or_else(|| panic!("no deploy in /etc/group:\n{group}"));
    assert!(deploy.ends_with(":admin"), "{deploy}");
    let home = std::fs::metadata(root.join("home/admin")).expect("home");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&home).to_string(),
        admin[2],
        "the home directory belongs to admin"
    );
    assert!(read(&root, "home/admin/.ssh/authorized_keys").contains("admin@laptop"));
    let wanted = root.join("etc/systemd/system/multi-user.target.wants/nginx.service");
    assert_eq!(
        std::fs::read_link(&wanted).expect("nginx enabled"),
        Path::new("/lib/systemd/system/nginx.service")
    );
    // start-stop-daemon is the real one again.
    let ssd = std::fs::metadata(root.join("usr/sbin/start-stop-daemon")).expect("ssd");
    assert!(ssd.len() > 10_000, "start-stop-daemon is still the stub");
}

/// Builds `body` on top of the package set (configured once, shared by the cases
/// through one store) and expects exit `code` with `mentions` in the report.
fn check_error(directory: &Path, body: &str, code: i32, mentions: &[&str]) {
    project(directory, body);
    let (actual, _, stderr) = build_with(directory, "store", None, "--keep-going");
    let text = unwrapped(&stderr);
    assert_eq!(actual, code, "{stderr}");
    for mention in mentions {
        assert!(text.contains(mention), "{mention:?} not in:\n{stderr}");
    }
}

#[test]
fn options_that_do_not_fit_the_image_are_named() {
    require!(require_slow_tests());
    require!(require_network());
    require!(require_root(
        "the sandbox as root (the ordinary-user path is tested above)"
    ));
    let work = scratch();
    let directory = work.path();
    let rootfs = |options: &str| format!("#{{ out: debian::rootfs(pkgs, #{{ {options} }}) }}\n");
    check_error(
        directory,
        &rootfs(r#"services: #{ enable: ["ngnix"] }"#),
        1,
        &["ngnix", "did you mean", "nginx"],
    );
    check_error(
        directory,
        &rootfs(r#"users: [#{ name: "web", uid: 33 }]"#),
        1,
        &["uid 33", "www-data"],
    );
    check_error(
        directory,
        &rootfs(r#"scripts: ["echo about to fail; exit 7"]"#),
        1,
        &["scripts[0]", "about to fail"],
    );
    check_error(
        directory,
        &rootfs(r#"timezone: "Mars/Olympus""#),
        1,
        &["Mars/Olympus"],
    );
    check_error(
        directory,
        &rootfs(r#"servces: #{ enable: ["nginx"] }"#),
        2,
        &["servces", "services"],
    );
}

/// A team repository (unsigned, `trusted: true`) with one package, `broken`, whose
/// postinst prints a line and exits 3.
fn broken_repository(root: &Path) -> String {
    let tree = root.join("build/broken");
    std::fs::create_dir_all(tree.join("DEBIAN")).expect("DEBIAN");
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: broken\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: a package whose postinst fails\n",
    )
    .expect("control");
    let postinst = tree.join("DEBIAN/postinst");
    std::fs::write(
        &postinst,
        "#!/bin/sh\necho broken postinst says hello\nexit 3\n",
    )
    .expect("postinst");
    std::fs::set_permissions(
        &postinst,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let pool = root.join("repo/pool/main");
    std::fs::create_dir_all(&pool).expect("pool");
    let deb = pool.join("broken_1.0_all.deb");
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&deb)
        .status()
        .expect("dpkg-deb");
    assert!(status.success());
    let sha256 = |path: &Path| {
        let output = Command::new("sha256sum")
            .arg(path)
            .output()
            .expect("sha256sum");
        String::from_utf8_lossy(&output.stdout)[..64].to_owned()
    };
    let size = std::fs::metadata(&deb).expect("deb").len();
    let index = format!(
        "Package: broken\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: a package whose postinst fails\nFilename: pool/main/broken_1.0_all.deb\nSize: {}\nSHA256: {}\n\n",
        size,
        sha256(&deb)
    );
    let binary = root.join("repo/dists/test/main/binary-amd64");
    std::fs::create_dir_all(&binary).expect("dists");
    std::fs::write(binary.join("Packages"), &index).expect("Packages");
    let index_sha256 = sha256(&binary.join("Packages"));
    let release = format!(
        "Origin: imgbuild-test\nSuite: test\nCodename: test\nDate: Thu, 01 Jan 2026 00:00:00 UTC\nArchitectures: amd64 all\nComponents: main\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        index_sha256,
        index.len()
    );
    std::fs::write(root.join("repo/dists/test/Release"), &release).expect("Release");
    std::fs::write(root.join("repo/dists/test/InRelease"), &release).expect("InRelease");
    format!("file://{}", root.join("repo").display())
}

#[test]
fn a_failing_maintainer_script_is_named_with_its_package_and_log() {
    require!(require_slow_tests());
    require!(require_network());
    require!(require_root(
        "the sandbox as root (the ordinary-user path is tested above)"
    ));
    require!(imgbuild_test_support::require_tool("dpkg-deb"));
    let work = scratch();
    let directory = work.path();
    let url = broken_repository(directory);
    std::fs::write(
        directory.join("web.rhai"),
        format!(
            r#"let pkgs = debian::packages(#{{
    name: "broken",
    suite: "bookworm",
    variant: "minbase",
    include: ["broken"],
    repositories: [#{{ url: "{url}", suite: "test", components: ["main"], trusted: true }}],
}});
#{{ out: debian::rootfs(pkgs, #{{}}) }}
"#
        ),
    )
    .expect("recipe");
    let (code, _, stderr) = build_with(directory, "store", None, "--keep-going");
    let text = unwrapped(&stderr);
    assert_eq!(code, 1, "{stderr}");
    for mention in [
        "the postinst script of package `broken` failed",
        "broken postinst says hello",
    ] {
        assert!(text.contains(mention), "{mention:?} not in:\n{stderr}");
    }
    assert!(!directory.join("result/out").exists());
}
