//! The dpkg database writer against real dpkg: packages built with `dpkg-deb --build`,
//! unpacked by hand with the database from `dpkg_db::database`, then read by `dpkg`,
//! `dpkg-query`, compared byte for byte with what `dpkg --unpack` writes for the same
//! packages, and configured with `dpkg --configure -a`.
//!
//! The tests need `dpkg`, `dpkg-deb` and `md5sum`, and root (dpkg unpacks with the
//! archive's ownership); without them `imgbuild_test_support` skips them with a
//! message, or fails them under CI.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_apt::dpkg_db::{
    database, ControlMember, DataKind, DataPath, Database, UnpackedPackage,
};

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Whether the tools and root are there; when not, `imgbuild_test_support` has said so
/// (or failed the test under CI).
fn usable() -> bool {
    imgbuild_test_support::require_tools(&["dpkg", "dpkg-deb", "md5sum"]).is_some()
        && imgbuild_test_support::require_root("dpkg unpacks with the archive's ownership")
            .is_some()
}

fn write(path: &Path, contents: &str, mode: u32) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, contents).expect("write");
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

const SCRIPT: &str = "#!/bin/sh\nexit 0\n";

/// Package trees: a conffile package with a postinst, a `Multi-Arch: same` library for
/// two architectures (no md5sums member, trigger interests), and a tool depending on
/// both with a hard link, a symlink and a file trigger interest. Their control files
/// use spellings dpkg normalizes.
fn build_packages(dir: &Path) -> Vec<PathBuf> {
    let hello = dir.join("hello-conf");
    write(
        &hello.join("DEBIAN/control"),
        "Package: hello-conf\nVersion: 0:1.0-1\nArchitecture: all\n\
Maintainer: T <t@example.org>\nX-Next:\n line one\n line two\nHomepage: https://example.org\n\
Description: hello with a conffile\n Long description.\n .\n More.\nSection: misc\n\
Priority: OPTIONAL\nDepends: libfoo1:amd64(>=1.0),\n   foo-tool | bar (<< 2:3)\nEssential: no\n\
Installed-Size: 12\nSource: hello (1.0-0)\nMulti-Arch: foreign\nBuilt-Using: x (= 1)\n",
        0o644,
    );
    write(
        &hello.join("DEBIAN/conffiles"),
        "/etc/hello/hello.conf\nremove-on-upgrade /etc/hello/old.conf\n",
        0o644,
    );
    write(&hello.join("DEBIAN/postinst"), SCRIPT, 0o755);
    write(&hello.join("etc/hello/hello.conf"), "key=1\n", 0o644);
    write(&hello.join("usr/bin/hello"), "#!/bin/sh\necho hi\n", 0o755);
    std::os::unix::fs::symlink("hello", hello.join("usr/bin/hi")).expect("symlink");
    write(&hello.join("usr/share/hello/data"), "data\n", 0o644);
    write(
        &hello.join("DEBIAN/md5sums"),
        &run(Command::new("sh")
            .current_dir(&hello)
            .args(["-c", "md5sum etc/hello/hello.conf usr/bin/hello"])),
        0o644,
    );

    let mut trees = vec![hello];
    for (arch, triplet) in [("amd64", "x86_64-linux-gnu"), ("i386", "i386-linux-gnu")] {
        let lib = dir.join(format!("libfoo1-{arch}"));
        write(
            &lib.join("DEBIAN/control"),
            &format!(
                "Package: libfoo1\nVersion: 1.2-3\nArchitecture: {arch}\nMulti-Arch: same\n\
Maintainer: T <t@example.org>\nDescription: a library\n"
            ),
            0o644,
        );
        write(
            &lib.join("DEBIAN/shlibs"),
            "libfoo 1 libfoo1 (>= 1.2)\n",
            0o644,
        );
        write(
            &lib.join("DEBIAN/triggers"),
            "activate-noawait ldconfig\ninterest-noawait foo-trig\n",
            0o644,
        );
        write(&lib.join("DEBIAN/postinst"), SCRIPT, 0o755);
        write(
            &lib.join(format!("usr/lib/{triplet}/libfoo.so.1")),
            &format!("lib {arch}\n"),
            0o644,
        );
        trees.push(lib);
    }

    let tool = dir.join("foo-tool");
    write(
        &tool.join("DEBIAN/control"),
        "Package: foo-tool\nVersion: 2.0\nArchitecture: amd64\nMaintainer: T <t@example.org>\n\
Depends: libfoo1 (>= 1.2), hello-conf\nDescription: a tool\n",
        0o644,
    );
    write(
        &tool.join("DEBIAN/triggers"),
        "interest-noawait /usr/share/foo\ninterest foo-trig\n",
        0o644,
    );
    write(&tool.join("usr/bin/foo-tool"), "tool\n", 0o755);
    fs::hard_link(tool.join("usr/bin/foo-tool"), tool.join("usr/bin/foo")).expect("link");
    fs::create_dir_all(tool.join("usr/share/foo")).expect("mkdir");
    write(
        &tool.join("DEBIAN/md5sums"),
        &run(Command::new("sh")
            .current_dir(&tool)
            .args(["-c", "md5sum usr/bin/foo-tool usr/bin/foo"])),
        0o644,
    );
    trees.push(tool);

    let mut debs: Vec<PathBuf> = trees
        .iter()
        .map(|tree| {
            let deb = tree.with_extension("deb");
            run(Command::new("dpkg-deb")
                .args(["--build", "--root-owner-group"])
                .arg(tree)
                .arg(&deb));
            deb
        })
        .collect();
    debs.push(crafted_package(&dir.join("crafted")));
    debs
}

/// A package not built by `dpkg-deb --build` (which puts symbolic links last itself):
/// a symlink before a regular file in `data.tar`, a hard link, and no md5sums member.
fn crafted_package(dir: &Path) -> PathBuf {
    write(
        &dir.join("control/control"),
        "Package: crafted\nVersion: 1\nArchitecture: all\nMaintainer: T <t@example.org>\n\
Description: built by hand\n",
        0o644,
    );
    write(&dir.join("data/usr/share/crafted/b"), "b\n", 0o644);
    write(&dir.join("data/usr/share/crafted/a"), "a\n", 0o644);
    fs::hard_link(
        dir.join("data/usr/share/crafted/a"),
        dir.join("data/usr/share/crafted/hl"),
    )
    .expect("link");
    std::os::unix::fs::symlink("a", dir.join("data/usr/share/crafted/sl")).expect("symlink");
    run(Command::new("sh").current_dir(dir).args([
        "-c",
        "set -e; echo 2.0 > debian-binary; \
         tar -C control --owner=0 --group=0 -czf control.tar.gz ./control; \
         tar -C data --owner=0 --group=0 --no-recursion -czf data.tar.gz \
           ./ ./usr/ ./usr/share/ ./usr/share/crafted/ ./usr/share/crafted/b \
           ./usr/share/crafted/sl ./usr/share/crafted/a ./usr/share/crafted/hl; \
         ar rc ../crafted.deb debian-binary control.tar.gz data.tar.gz",
    ]));
    dir.with_extension("deb")
}

/// Reads a `.deb` the way the image builder would, with dpkg-deb: `-e` for the control
/// members, `--fsys-tarfile` for the entries in archive order, `-x` for the data into
/// `root`. The MD5 digests come from the extracted files.
fn unpack_by_hand(deb: &Path, root: &Path, scratch: &Path) -> UnpackedPackage {
    let control_dir = scratch.join(deb.file_stem().expect("stem")).join("control");
    fs::create_dir_all(&control_dir).expect("mkdir");
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(&control_dir));
    let mut control = String::new();
    let mut control_members = BTreeMap::new();
    for entry in fs::read_dir(&control_dir).expect("control dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().into_string().expect("UTF-8 name");
        let contents = fs::read(entry.path()).expect("read member");
        if name == "control" {
            control = String::from_utf8(contents).expect("UTF-8 control");
            continue;
        }
        let mode = entry.metadata().expect("stat").mode() & 0o7777;
        control_members.insert(name, ControlMember { mode, contents });
    }

    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root));
    let tarball = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .output()
        .expect("dpkg-deb runs")
        .stdout;
    let mut archive = tar::Archive::new(tarball.as_slice());
    let mut data = Vec::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("UTF-8 path");
        let kind = match entry.header().entry_type() {
            tar::EntryType::Directory => DataKind::Directory,
            tar::EntryType::Symlink => DataKind::Symlink,
            tar::EntryType::Regular | tar::EntryType::Link => {
                let digest = run(Command::new("md5sum").arg(root.join(&path)));
                let hex = digest.split_whitespace().next().expect("digest");
                let mut md5 = [0u8; 16];
                for (index, byte) in md5.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).expect("hex");
                }
                DataKind::File { md5: Some(md5) }
            }
            _ => DataKind::Other,
        };
        let mut sink = Vec::new();
        entry.read_to_end(&mut sink).expect("read entry");
        data.push(DataPath { path, kind });
    }
    UnpackedPackage {
        control,
        control_members,
        data,
        index_fields: None,
    }
}

/// Writes the database into `root` and moves the staged conffiles aside as dpkg does.
fn install_database(root: &Path, db: &Database) {
    for directory in &db.directories {
        fs::create_dir_all(root.join(directory)).expect("mkdir");
        fs::set_permissions(root.join(directory), fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    for file in &db.files {
        let path = root.join(&file.path);
        fs::write(&path, &file.contents).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(file.mode)).expect("chmod");
    }
    for conffile in &db.staged_conffiles {
        fs::rename(
            root.join(conffile),
            root.join(format!("{conffile}.dpkg-new")),
        )
        .expect("stage conffile");
    }
}

/// The packages, unpacked by hand into `root` with the database; returns the database.
fn hand_tree(debs: &[PathBuf], root: &Path, scratch: &Path) -> (Vec<UnpackedPackage>, Database) {
    let packages: Vec<UnpackedPackage> = debs
        .iter()
        .map(|deb| unpack_by_hand(deb, root, scratch))
        .collect();
    let db = database(&packages, "amd64").expect("database");
    install_database(root, &db);
    (packages, db)
}

/// The same packages unpacked by dpkg itself, in name order.
fn dpkg_tree(debs: &[PathBuf], root: &Path) {
    fs::create_dir_all(root.join("var/lib/dpkg")).expect("mkdir");
    fs::write(root.join("var/lib/dpkg/status"), "").expect("status");
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--add-architecture", "i386"]));
    let mut sorted = debs.to_vec();
    sorted.sort();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-script-chrootless", "--unpack"])
        .args(&sorted));
}

/// Every path below `root`: type, mode and, for files, contents.
fn snapshot(root: &Path) -> BTreeMap<String, (char, u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (char, u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            let metadata = fs::symlink_metadata(&path).expect("lstat");
            let mode = metadata.mode() & 0o7777;
            if metadata.is_dir() {
                out.insert(relative, ('d', mode, Vec::new()));
                walk(root, &path, out);
            } else if metadata.file_type().is_symlink() {
                let target = fs::read_link(&path).expect("readlink");
                out.insert(
                    relative,
                    ('l', 0, target.into_os_string().into_encoded_bytes()),
                );
            } else {
                out.insert(relative, ('f', mode, fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn admindir(root: &Path) -> String {
    format!("--admindir={}", root.join("var/lib/dpkg").display())
}

fn status_of(root: &Path) -> String {
    fs::read_to_string(root.join("var/lib/dpkg/status")).expect("status")
}

#[test]
fn dpkg_reads_the_database_as_unpacked_packages() {
    if !usable() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let debs = build_packages(&dir.path().join("build"));
    let root = dir.path().join("root");
    let (_, db) = hand_tree(&debs, &root, &dir.path().join("scratch"));
    assert_eq!(db.staged_conffiles, ["etc/hello/hello.conf"]);

    let listing = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("-l"));
    let states: Vec<(String, String)> = listing
        .lines()
        .filter(|line| line.len() > 4 && line.as_bytes()[3] == b' ' && !line.starts_with("+++"))
        .filter(|line| {
            !line.starts_with("| ") && !line.starts_with("|/") && !line.starts_with("||")
        })
        .map(|line| {
            let mut words = line.split_whitespace();
            (
                words.next().expect("state").to_owned(),
                words.next().expect("name").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("iU".to_owned(), "crafted".to_owned()),
            ("iU".to_owned(), "foo-tool".to_owned()),
            ("iU".to_owned(), "hello-conf".to_owned()),
            ("iU".to_owned(), "libfoo1:amd64".to_owned()),
            ("iU".to_owned(), "libfoo1:i386".to_owned()),
        ],
        "{listing}"
    );

    let query = run(Command::new("dpkg-query").arg(admindir(&root)).args([
        "-W",
        "-f=${binary:Package} ${Status} ${Version} ${Architecture}\n",
    ]));
    assert_eq!(
        query,
        "crafted install ok unpacked 1 all\n\
foo-tool install ok unpacked 2.0 amd64\n\
hello-conf install ok unpacked 1.0-1 all\n\
libfoo1:amd64 install ok unpacked 1.2-3 amd64\n\
libfoo1:i386 install ok unpacked 1.2-3 i386\n"
    );

    let files = run(Command::new("dpkg")
        .arg(admindir(&root))
        .args(["-L", "hello-conf"]));
    assert_eq!(
        files,
        "/.\n/etc\n/etc/hello\n/etc/hello/hello.conf\n/usr\n/usr/bin\n/usr/bin/hello\n\
/usr/share\n/usr/share/hello\n/usr/share/hello/data\n/usr/bin/hi\n"
    );
    // Symbolic links come last, as dpkg's extractor defers them.
    let files = run(Command::new("dpkg")
        .arg(admindir(&root))
        .args(["-L", "crafted"]));
    assert_eq!(
        files,
        "/.\n/usr\n/usr/share\n/usr/share/crafted\n/usr/share/crafted/b\n\
/usr/share/crafted/a\n/usr/share/crafted/hl\n/usr/share/crafted/sl\n"
    );
    let files = run(Command::new("dpkg")
        .arg(admindir(&root))
        .args(["-L", "libfoo1:i386"]));
    assert!(
        files.ends_with("/usr/lib/i386-linux-gnu/libfoo.so.1\n"),
        "{files}"
    );
    let owner = run(Command::new("dpkg")
        .arg(admindir(&root))
        .args(["-S", "/usr/bin/foo"]));
    assert_eq!(owner, "foo-tool: /usr/bin/foo\n");

    let audit = run(Command::new("dpkg").arg(admindir(&root)).arg("--audit"));
    assert!(audit.contains("unpacked but not yet configured"), "{audit}");
    for name in [
        "crafted",
        "foo-tool",
        "hello-conf",
        "libfoo1:amd64",
        "libfoo1:i386",
    ] {
        assert!(audit.contains(&format!(" {name} ")), "{name} in {audit}");
    }

    // dpkg's own check of the unpacked files against the md5sums: all there, except
    // the conffile, which waits as `.dpkg-new` (real dpkg reports the same).
    let verify = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--verify"));
    assert_eq!(verify, "missing   c /etc/hello/hello.conf\n");
}

#[test]
fn database_matches_what_dpkg_unpack_writes() {
    if !usable() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let debs = build_packages(&dir.path().join("build"));
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    let (packages, _) = hand_tree(&debs, &ours, &dir.path().join("scratch"));
    dpkg_tree(&debs, &theirs);

    let ours_snapshot = snapshot(&ours);
    let mut theirs_snapshot = snapshot(&theirs);
    // dpkg's backup of the previous status, which it always leaves behind.
    assert!(theirs_snapshot.remove("var/lib/dpkg/status-old").is_some());
    let mut ours_only = Vec::new();
    for (path, ours_entry) in &ours_snapshot {
        match theirs_snapshot.get(path) {
            Some(theirs_entry) => assert_eq!(
                (
                    ours_entry.0,
                    ours_entry.1,
                    String::from_utf8_lossy(&ours_entry.2)
                ),
                (
                    theirs_entry.0,
                    theirs_entry.1,
                    String::from_utf8_lossy(&theirs_entry.2)
                ),
                "{path} differs"
            ),
            None => ours_only.push(path.as_str()),
        }
    }
    let theirs_only: Vec<&String> = theirs_snapshot
        .keys()
        .filter(|path| !ours_snapshot.contains_key(*path))
        .collect();
    assert!(theirs_only.is_empty(), "only dpkg wrote {theirs_only:?}");
    // Files dpkg reads but `--unpack` does not create: all empty.
    assert_eq!(
        ours_only,
        [
            "var/lib/dpkg/available",
            "var/lib/dpkg/diversions",
            "var/lib/dpkg/statoverride"
        ]
    );
    for path in &ours_only {
        assert!(ours_snapshot[*path].2.is_empty(), "{path}");
    }
    // The comparison covered what matters.
    for path in [
        "var/lib/dpkg/status",
        "var/lib/dpkg/arch",
        "var/lib/dpkg/info/format",
        "var/lib/dpkg/info/hello-conf.list",
        "var/lib/dpkg/info/hello-conf.postinst",
        "var/lib/dpkg/info/libfoo1:i386.md5sums",
        "var/lib/dpkg/info/foo-tool.list",
        "var/lib/dpkg/info/crafted.list",
        "var/lib/dpkg/info/crafted.md5sums",
        "var/lib/dpkg/triggers/File",
        "var/lib/dpkg/triggers/foo-trig",
        "var/lib/dpkg/lock",
        "etc/hello/hello.conf.dpkg-new",
    ] {
        assert!(ours_snapshot.contains_key(path), "{path}");
    }

    // `available`, from index paragraphs, as `dpkg --update-avail` writes it.
    let mut index = String::new();
    let mut with_index = packages.clone();
    for (package, deb) in with_index.iter_mut().zip(&debs) {
        let bytes = fs::read(deb).expect("deb");
        let md5 = run(Command::new("md5sum").arg(deb));
        let fields = format!(
            "{}Filename: pool/{}\nSize: {}\nMD5sum: {}\nSHA256: 00\nTag: a::b,\n c::d\n",
            package.control,
            deb.file_name().expect("name").to_string_lossy(),
            bytes.len(),
            md5.split_whitespace().next().expect("md5"),
        );
        // dpkg keeps a single available record per package name.
        if !fields.contains("Architecture: i386") {
            index.push_str(&fields);
            index.push('\n');
            package.index_fields = Some(fields);
        }
    }
    let db = database(&with_index, "amd64").expect("database");
    let available = &db
        .files
        .iter()
        .find(|file| file.path == "var/lib/dpkg/available")
        .expect("available")
        .contents;
    let avail_root = dir.path().join("avail");
    fs::create_dir_all(avail_root.join("var/lib/dpkg")).expect("mkdir");
    fs::write(avail_root.join("var/lib/dpkg/status"), "").expect("status");
    fs::write(dir.path().join("Packages"), &index).expect("Packages");
    run(Command::new("dpkg")
        .arg(admindir(&avail_root))
        .arg("--update-avail")
        .arg(dir.path().join("Packages")));
    assert_eq!(
        String::from_utf8_lossy(available),
        fs::read_to_string(avail_root.join("var/lib/dpkg/available")).expect("available")
    );
}

#[test]
fn dpkg_configures_the_unpacked_packages() {
    if !usable() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let debs = build_packages(&dir.path().join("build"));
    let ours = dir.path().join("ours");
    let theirs = dir.path().join("theirs");
    hand_tree(&debs, &ours, &dir.path().join("scratch"));
    dpkg_tree(&debs, &theirs);
    for root in [&ours, &theirs] {
        // The maintainer scripts are `exit 0`; the root has no shell to chroot into.
        run(Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--force-script-chrootless", "--configure", "-a"]));
    }
    let status = status_of(&ours);
    assert_eq!(
        status.matches("Status: install ok installed\n").count(),
        5,
        "{status}"
    );
    assert!(!status.contains("unpacked"), "{status}");
    // The conffile is in place and its real MD5 recorded.
    let digest = run(Command::new("md5sum").arg(ours.join("etc/hello/hello.conf")));
    let digest = digest.split_whitespace().next().expect("md5");
    assert!(
        status.contains(&format!(" /etc/hello/hello.conf {digest}\n")),
        "{status}"
    );
    assert!(!ours.join("etc/hello/hello.conf.dpkg-new").exists());
    assert_eq!(status, status_of(&theirs));
    let audit = run(Command::new("dpkg").arg(admindir(&ours)).arg("--audit"));
    assert_eq!(audit, "");
}
