//! Everything the writer refuses, and the message it gives: bad labels, bad names,
//! conflicting paths, unrepresentable files and symlinks, out-of-range epochs and
//! external callbacks that misbehave.

mod common;

use std::io::{self, Write};

use common::*;
use imgbuild_iso::{image_size, to_vec, write_image, IsoError, Label, Name, Volume};

/// Asserts `result` failed with a message containing `expected`.
fn check<T: std::fmt::Debug>(result: Result<T, IsoError>, expected: &str) {
    let message = result.expect_err("must fail").to_string();
    assert!(
        message.contains(expected),
        "message `{message}` lacks `{expected}`"
    );
}

#[test]
fn bad_labels() {
    for (label, reason) in [
        ("", "volume label ``: is empty"),
        ("ci data", "contains ` ` (U+0020)"),
        ("cidata!", "contains `!` (U+0021)"),
        ("config.2", "contains `.` (U+002E)"),
        ("Äbc", "contains `Ä` (U+00C4)"),
        ("tab\there", "contains U+0009"),
        (
            "ABCDEFGHIJKLMNOPQ",
            "is 17 characters long, longer than 16, the Joliet volume identifier limit",
        ),
    ] {
        let result = Label::new(label);
        assert!(
            matches!(result, Err(IsoError::InvalidLabel { .. })),
            "{label:?}"
        );
        check(result, reason);
    }
}

#[test]
fn bad_names() {
    let long = "x".repeat(65);
    for (name, reason) in [
        ("", "is empty"),
        (".", "is `.` or `..`"),
        ("..", "is `.` or `..`"),
        ("a/b", "contains `/`, the path separator"),
        ("a\0b", "contains a NUL character"),
        ("bell\u{7}", "contains the control character U+0007"),
        ("new\nline", "contains the control character U+000A"),
        ("del\u{7f}", "contains the control character U+007F"),
        ("a*b", "contains `*` (U+002A), which Joliet forbids"),
        ("a:b", "contains `:` (U+003A), which Joliet forbids"),
        ("a;b", "contains `;` (U+003B), which Joliet forbids"),
        ("a?b", "contains `?` (U+003F), which Joliet forbids"),
        ("a\\b", "contains `\\` (U+005C), which Joliet forbids"),
        (
            "smile😀",
            "contains `😀` (U+1F600), outside the Unicode Basic Multilingual Plane",
        ),
        (
            &long,
            "is 65 characters long, longer than 64 characters, the Joliet limit",
        ),
    ] {
        let result = Name::new(name);
        assert!(
            matches!(result, Err(IsoError::InvalidName { .. })),
            "{name:?}"
        );
        check(result, reason);
    }
    for good in [
        "meta-data",
        "café",
        &"€".repeat(64),
        "with space",
        ".hidden",
        "...",
        "a.b.c",
    ] {
        Name::new(good).expect(good);
    }
}

#[test]
fn conflicting_paths() {
    let mut root = imgbuild_iso::Directory::new(imgbuild_iso::Attributes::directory(0o755));
    root.insert("openstack/latest/meta_data.json", file(b"{}", 0o644))
        .expect("insert");
    check(
        root.insert("openstack/latest/meta_data.json", file(b"{}", 0o644)),
        "`openstack/latest/meta_data.json`: already exists",
    );
    check(
        root.insert("openstack", directory(0o755)),
        "`openstack`: already exists",
    );
    check(
        root.insert("openstack/latest/meta_data.json/x", file(b"", 0o644)),
        "`openstack/latest/meta_data.json`: is not a directory",
    );
    check(
        root.insert("/etc/passwd", file(b"", 0o644)),
        "has an empty component",
    );
    check(
        root.insert("a/./b", file(b"", 0o644)),
        "file name `.`: is `.` or `..`",
    );
    check(
        root.insert("a/b:c", file(b"", 0o644)),
        "file name `b:c`: contains `:`",
    );
}

fn single(path: &str, node: imgbuild_iso::Node) -> Volume {
    volume("ERRORS", 0, vec![(path.to_owned(), node)])
}

#[test]
fn files_over_four_gibibytes() {
    let limit = u64::from(u32::MAX);
    // The largest representable file is laid out without writing anything.
    let size =
        image_size(&single("big/largest", external(1, limit, 0o644))).expect("4 GiB - 1 fits");
    assert!(size > limit);
    let too_big = single("big/too-big", external(1, limit + 1, 0o644));
    let message =
        "`big/too-big`: is 4294967296 bytes; an ISO 9660 extent holds at most 4294967295 bytes";
    check(image_size(&too_big), message);
    let result = write_image(&too_big, &mut io::sink(), &mut |_, _| {
        panic!("nothing is written")
    });
    assert!(
        matches!(result, Err(IsoError::Unrepresentable { ref path, .. }) if path == "big/too-big")
    );
}

#[test]
fn symlinks_that_cannot_be_written() {
    check(
        to_vec(&single("links/huge", symlink(&"a/".repeat(2500)))),
        "`links/huge`: its Rock Ridge name and symlink entries take",
    );
    check(
        to_vec(&single("empty-link", symlink(""))),
        "`empty-link`: the symlink target is empty",
    );
    check(
        to_vec(&single("nul-link", symlink("a\0b"))),
        "`nul-link`: the symlink target contains a NUL character",
    );
    // Just under the limit still works.
    to_vec(&single("links/long", symlink(&"a/".repeat(600)))).expect("a 1200-byte target fits");
}

#[test]
fn epochs_out_of_range() {
    for epoch in [-1, 5_869_584_000, i64::MAX] {
        let result = to_vec(&seed("cidata", epoch));
        assert!(
            matches!(result, Err(IsoError::InvalidEpoch(e)) if e == epoch),
            "{epoch}"
        );
    }
    to_vec(&seed("cidata", 5_869_583_999))
        .expect("2155-12-31T23:59:59Z is the last representable second");
}

#[test]
fn external_content_is_checked() {
    let volume = single("data/file", external(9, 100, 0o644));
    check(
        to_vec(&volume),
        "`data/file`: has external content, which `to_vec` cannot fetch",
    );

    let short = write_image(&volume, &mut io::sink(), &mut |_, out: &mut dyn Write| {
        out.write_all(&[0; 99])
    });
    check(
        short,
        "`data/file`: the external content for key 9 is 99 bytes, but 100 were declared",
    );

    let long = write_image(&volume, &mut io::sink(), &mut |_, out: &mut dyn Write| {
        out.write_all(&[0; 101])
    });
    check(
        long,
        "`data/file`: the external content for key 9 is longer than the 100 bytes declared",
    );

    let failing = write_image(&volume, &mut io::sink(), &mut |_, _| {
        Err(io::Error::other("disk on fire"))
    });
    assert!(matches!(failing, Err(IsoError::Io(_))));
    check(failing, "disk on fire");

    let conflicting = volume_with_shared_key();
    check(
        image_size(&conflicting),
        "`b`: shares external key 5 with `a` but declares 20 bytes instead of 10",
    );
}

fn volume_with_shared_key() -> Volume {
    volume(
        "ERRORS",
        0,
        vec![
            ("a".into(), external(5, 10, 0o644)),
            ("b".into(), external(5, 20, 0o644)),
        ],
    )
}

#[test]
fn output_errors_are_reported() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("no space left"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let result = write_image(&seed("cidata", 0), &mut Broken, &mut |_, _| Ok(()));
    check(result, "writing the image: no space left");
}
