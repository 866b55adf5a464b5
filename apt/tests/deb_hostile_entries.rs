//! Hand-made hostile data archives: entry paths, symlinks, hardlinks. Each must be
//! rejected with an error that names the package, the member and the entry's path.

mod common_deb;

use common_deb::*;
use imgbuild_apt::deb::{DebErrorKind, EntryKind, EntryProblem, Limits};

#[test]
fn a_well_formed_hand_made_package_reads() {
    let mut tar = TarBytes::new();
    tar.dir("./")
        .dir("./usr/")
        .file("./usr/a", b"hello")
        .hardlink("./usr/b", "./usr/a")
        .hardlink("./usr/c", "./usr/b")
        .symlink("./usr/d", "../etc/x")
        .entry(b"./dev-null", CHAR_DEVICE, 0o666, b"", b"")
        .entry(b"./fifo", FIFO, 0o600, b"", b"")
        .pax(&[
            ("mtime", b"-1.5"),
            ("uname", b"p\xc3\xa9ter"),
            ("uid", b"4000000000"),
        ])
        .file("./usr/pax", b"x");
    let deb = ar(&[
        ("debian-binary", b"2.0\n"),
        ("_extra", b"skipped"),
        ("control.tar.zst", &zstd(&control_tar())),
        ("data.tar.gz", &gzip(&tar.finish())),
        ("_after", b"x"),
    ]);
    let (summary, collector) = read(&deb, &Limits::default()).expect("reads");
    let kinds: Vec<(&str, &EntryKind)> = collector
        .entries
        .iter()
        .map(|seen| (seen.path.as_str(), &seen.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("usr", &EntryKind::Directory),
            ("usr/a", &EntryKind::File { size: 5 }),
            (
                "usr/b",
                &EntryKind::Hardlink {
                    target: "usr/a".into()
                }
            ),
            (
                "usr/c",
                &EntryKind::Hardlink {
                    target: "usr/a".into()
                }
            ),
            (
                "usr/d",
                &EntryKind::Symlink {
                    target: "../etc/x".into()
                }
            ),
            ("dev-null", &EntryKind::CharDevice { major: 0, minor: 0 }),
            ("fifo", &EntryKind::Fifo),
            ("usr/pax", &EntryKind::File { size: 1 }),
        ]
    );
    assert_eq!(collector.entries[1].sha256, sha256_hex(b"hello"));
    let pax = &collector.entries[7];
    assert_eq!(
        (pax.mtime, pax.uid, pax.user.as_deref()),
        (-2, 4_000_000_000, Some("péter"))
    );
    assert_eq!(summary.skipped_members, ["_extra", "_after"]);
    assert_eq!(summary.control.control(), CONTROL);
    assert_eq!(summary.control.files["postinst"].mode, 0o755);
    assert_eq!(
        (summary.entries, summary.files, summary.file_bytes),
        (8, 2, 6)
    );
}

#[test]
fn path_traversal() {
    check_entry_rejected(
        TarBytes::new().file("../etc/passwd", b"x"),
        "../etc/passwd",
        |problem| *problem == EntryProblem::ParentComponent,
    );
    check_entry_rejected(
        TarBytes::new().file("./a/../../x", b"x"),
        "./a/../../x",
        |problem| *problem == EntryProblem::ParentComponent,
    );
    check_entry_rejected(
        TarBytes::new().file("/etc/passwd", b"x"),
        "/etc/passwd",
        |problem| *problem == EntryProblem::AbsolutePath,
    );
}

#[test]
fn path_traversal_in_long_names() {
    let long = format!("./{}/../../../../etc/passwd", "d".repeat(120));
    check_entry_rejected(
        TarBytes::new()
            .gnu_long_name(long.as_bytes())
            .file("./innocent", b"x"),
        &long,
        |problem| *problem == EntryProblem::ParentComponent,
    );
    check_entry_rejected(
        TarBytes::new()
            .pax(&[("path", b"../../etc/shadow")])
            .file("./innocent", b"x"),
        "../../etc/shadow",
        |problem| *problem == EntryProblem::ParentComponent,
    );
}

#[test]
fn names_longer_than_linux_allows() {
    let long = format!("./usr/{}", "n".repeat(256));
    check_entry_rejected(
        TarBytes::new()
            .gnu_long_name(long.as_bytes())
            .file("./x", b""),
        &long,
        |problem| {
            matches!(
                problem,
                EntryProblem::TooLong {
                    length: 256,
                    limit: 255,
                    ..
                }
            )
        },
    );
    let deep = "d/".repeat(2100);
    check_entry_rejected(
        TarBytes::new().gnu_long_name(deep.as_bytes()).dir("./x"),
        &deep,
        |problem| matches!(problem, EntryProblem::TooLong { what: "path", .. }),
    );
    check_entry_rejected(
        TarBytes::new()
            .pax(&[("linkpath", "x/".repeat(2100).as_bytes())])
            .symlink("./l", "x"),
        "l",
        |problem| {
            matches!(
                problem,
                EntryProblem::TooLong {
                    what: "symlink target",
                    ..
                }
            )
        },
    );
}

#[test]
fn non_utf8_path_is_reported_lossily() {
    let mut tar = TarBytes::new();
    tar.entry(b"./usr/caf\xe9", FILE, 0o644, b"", b"x");
    check_entry_rejected(&tar, "./usr/caf\u{fffd}", |problem| {
        *problem == EntryProblem::NonUtf8Path
    });
}

#[test]
fn symlink_escapes() {
    let escapes = |problem: &EntryProblem| matches!(problem, EntryProblem::SymlinkEscapes { .. });
    check_entry_rejected(
        TarBytes::new().dir("./a/").symlink("./a/b", "../../.."),
        "a/b",
        escapes,
    );
    check_entry_rejected(TarBytes::new().symlink("./x", "/usr/../.."), "x", escapes);
    // Through another symlink of the package: `a/s1` is the root, `a/s2` its parent.
    check_entry_rejected(
        TarBytes::new()
            .symlink("./a/s1", "..")
            .symlink("./a/s2", "s1/.."),
        "a/s2",
        escapes,
    );
    // A later symlink redirects an earlier one that looked harmless.
    check_entry_rejected(
        TarBytes::new()
            .symlink("./a/x", "d/../..")
            .symlink("./a/d", ".."),
        "a/x",
        escapes,
    );
    // Absolute targets stay inside the image: not an error.
    read(
        &deb_with_data_tar(TarBytes::new().symlink("./a", "/etc/passwd")),
        &Limits::default(),
    )
    .expect("reads");
}

#[test]
fn symlink_loops() {
    check_entry_rejected(
        TarBytes::new().symlink("./a", "b").symlink("./b", "a/x"),
        "b",
        |problem| matches!(problem, EntryProblem::SymlinkLoop { .. }),
    );
}

#[test]
fn writing_through_a_symlink() {
    check_entry_rejected(
        TarBytes::new()
            .symlink("./a", "/etc")
            .file("./a/passwd", b"root::0:0::/:/bin/sh\n"),
        "a/passwd",
        |problem| {
            *problem
                == EntryProblem::ThroughSymlink {
                    symlink: "a".into(),
                }
        },
    );
    // The other order: the symlink replaces a directory that already holds a file.
    check_entry_rejected(
        TarBytes::new()
            .file("./a/passwd", b"x")
            .symlink("./a", "/etc"),
        "a",
        |problem| *problem == EntryProblem::ConflictsWithDirectory,
    );
    check_entry_rejected(
        TarBytes::new().file("./f", b"x").file("./f/g", b"y"),
        "f/g",
        |problem| *problem == EntryProblem::ParentNotDirectory { parent: "f".into() },
    );
}

#[test]
fn hardlink_targets() {
    let not_earlier = |problem: &EntryProblem| matches!(problem, EntryProblem::InvalidHardlinkTarget { reason, .. } if reason.contains("earlier"));
    check_entry_rejected(
        TarBytes::new().hardlink("./h", "./f").file("./f", b"x"),
        "h",
        not_earlier,
    );
    check_entry_rejected(
        TarBytes::new().hardlink("./h", "./nowhere"),
        "h",
        not_earlier,
    );
    check_entry_rejected(
        TarBytes::new().file("./x", b"x").hardlink("./h", "../x"),
        "h",
        |problem| matches!(problem, EntryProblem::InvalidHardlinkTarget { target, .. } if target == "../x"),
    );
    check_entry_rejected(
        TarBytes::new().file("./x", b"x").hardlink("./h", "/x"),
        "h",
        |problem| matches!(problem, EntryProblem::InvalidHardlinkTarget { .. }),
    );
    check_entry_rejected(
        TarBytes::new().dir("./d/").hardlink("./h", "./d"),
        "h",
        |problem| matches!(problem, EntryProblem::InvalidHardlinkTarget { reason, .. } if reason.contains("regular")),
    );
}

#[test]
fn duplicates() {
    check_entry_rejected(
        TarBytes::new().file("./f", b"x").file("f", b"y"),
        "f",
        |problem| *problem == EntryProblem::Duplicate,
    );
    check_entry_rejected(TarBytes::new().dir("./d/").dir("./d"), "d", |problem| {
        *problem == EntryProblem::Duplicate
    });
}

#[test]
fn unsupported_entry_types_and_slashes() {
    check_entry_rejected(
        TarBytes::new().entry(b"./volume", b'V', 0o644, b"", b""),
        "volume",
        |problem| *problem == EntryProblem::UnsupportedType { type_byte: 'V' },
    );
    check_entry_rejected(TarBytes::new().file("./f/", b""), "f", |problem| {
        *problem == EntryProblem::TrailingSlash
    });
    check_entry_rejected(TarBytes::new().file("./", b""), ".", |problem| {
        *problem == EntryProblem::RootNotDirectory
    });
}

/// Each path may name up to 2048 parent directories the package never lists, each a
/// node in memory: a small, well-compressed package of such paths used to need
/// gigabytes. The reader stops at `2 × max_entries + 4096` paths instead.
#[test]
fn unlisted_parent_directories_are_bounded() {
    let limits = Limits {
        max_entries: 16,
        ..Limits::default()
    };
    let mut tar = TarBytes::new();
    for i in 0..3 {
        let path = format!("./{i}/{}file", "d/".repeat(2000));
        tar.gnu_long_name(path.as_bytes()).file("./short", b"x");
    }
    check_rejected(
        &deb_with_data_tar(&tar),
        &limits,
        |kind| {
            matches!(kind, DebErrorKind::Entry { problem, .. }
                if *problem == EntryProblem::TooManyPaths { limit: 4128 })
        },
        &["data.tar", "more than 4128 files and directories"],
    );
}
