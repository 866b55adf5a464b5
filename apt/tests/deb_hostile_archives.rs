//! Hand-made hostile packages: limits, truncation, corruption, members, control
//! archives and visitor failures. Each must be rejected with an error that names the
//! package and the member (and the entry, where there is one).

mod common_deb;

use std::io;

use common_deb::*;
use imgbuild_apt::deb::{DebErrorKind, EntryProblem, Limits};

#[test]
fn size_limits() {
    let limits = Limits {
        max_entry_size: 10,
        ..Limits::default()
    };
    check_rejected(
        &deb_with_data_tar(
            TarBytes::new()
                .file("./small", b"0123456789")
                .file("./big", &[7; 11]),
        ),
        &limits,
        |kind| matches!(kind, DebErrorKind::Entry { path, problem: EntryProblem::TooLarge { size: 11, limit: 10 }, .. } if path == "big"),
        &["big", "11"],
    );
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    check_rejected(
        &deb_with_data_tar(
            TarBytes::new()
                .dir("./")
                .file("./a", b"")
                .file("./b", b"")
                .file("./c", b""),
        ),
        &limits,
        |kind| matches!(kind, DebErrorKind::TooManyEntries { member, limit: 3 } if member == "data.tar"),
        &["data.tar"],
    );
    let limits = Limits {
        max_total_size: 4096,
        ..Limits::default()
    };
    check_rejected(
        &deb_with_data_tar(
            TarBytes::new()
                .file("./a", &[1; 3000])
                .file("./b", &[2; 3000]),
        ),
        &limits,
        |kind| matches!(kind, DebErrorKind::TotalSizeExceeded { limit: 4096, .. }),
        &["data.tar", "4096"],
    );
}

#[test]
fn decompression_bomb() {
    // 100 MB of zeros in one entry: about 100 kB of gzip.
    let size = 100 * 1000 * 1000;
    let mut header = tar::Header::new_gnu();
    header.set_path("./zeros").expect("path");
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let chunk = vec![0u8; 1 << 20];
    std::io::Write::write_all(&mut encoder, header.as_bytes()).expect("gzip");
    for _ in 0..(size as usize).div_ceil(chunk.len()) {
        std::io::Write::write_all(&mut encoder, &chunk).expect("gzip");
    }
    let compressed = encoder.finish().expect("gzip");
    assert!(compressed.len() < 1 << 20);
    let limits = Limits {
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    check_rejected(
        &deb_with_data("data.tar.gz", &compressed),
        &limits,
        |kind| matches!(kind, DebErrorKind::TotalSizeExceeded { limit, after, .. } if *limit == 1 << 20 && after.as_deref() == Some("zeros")),
        &["data.tar.gz", "zeros"],
    );
    assert!(
        started.elapsed().as_secs() < 5,
        "the reader stops at the limit"
    );
    // An entry size over the entry limit is refused before any byte is read.
    check_rejected(
        &deb_with_data("data.tar.gz", &compressed),
        &Limits {
            max_entry_size: 1 << 20,
            ..Limits::default()
        },
        |kind| {
            matches!(
                kind,
                DebErrorKind::Entry {
                    problem: EntryProblem::TooLarge { .. },
                    ..
                }
            )
        },
        &["zeros"],
    );
}

#[test]
fn huge_extended_headers() {
    let long = "d/".repeat(1 << 20);
    check_rejected(
        &deb_with_data_tar(
            TarBytes::new()
                .file("./first", b"x")
                .gnu_long_name(long.as_bytes())
                .file("./x", b""),
        ),
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::ExtendedHeaderTooLarge { after, .. } if after.as_deref() == Some("first")),
        &["data.tar", "first"],
    );
}

#[test]
fn truncated_ar_member() {
    let mut deb = deb_with_data_tar(TarBytes::new().file("./a", &[1; 5000]));
    deb.truncate(deb.len() - 3000);
    check_rejected(
        &deb,
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::TruncatedMember { member, .. } if member == "data.tar"),
        &["data.tar"],
    );
    // Cut inside the header of the member.
    let deb = deb_with_data_tar(TarBytes::new().file("./a", b"x"));
    let control_end = deb.len() - TarBytes::new().file("./a", b"x").finish().len() - 60;
    check_rejected(
        &deb[..control_end + 30],
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::MalformedArHeader { .. }),
        &["header"],
    );
}

#[test]
fn truncated_tar_inside_xz() {
    let tar = TarBytes::new()
        .file("./a", b"x")
        .file("./usr/big", &[3; 10_000])
        .finish();
    // A valid xz stream of a tar cut inside `usr/big`'s contents.
    check_rejected(
        &deb_with_data("data.tar.xz", &xz(&tar[..512 * 4 + 3000])),
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::Entry { path, problem: EntryProblem::Truncated { expected: 10_000, .. }, .. } if path == "usr/big"),
        &["data.tar.xz", "usr/big"],
    );
    // A tar cut at a header boundary: no end-of-archive marker.
    check_rejected(
        &deb_with_data("data.tar.xz", &xz(&tar[..512 * 2])),
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::MalformedTarEnd { .. }),
        &["data.tar.xz", "end-of-archive"],
    );
    // The xz stream itself cut short.
    let compressed = xz(&tar);
    check_rejected(
        &deb_with_data("data.tar.xz", &compressed[..compressed.len() - 20]),
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::Corrupt { member, .. } if member == "data.tar.xz"),
        &["data.tar.xz", "corrupt"],
    );
}

#[test]
fn garbage_after_the_tar_end() {
    let mut data = TarBytes::new().file("./a", b"x").finish();
    data.extend_from_slice(b"hidden");
    check_rejected(
        &deb_with_data("data.tar", &data),
        &Limits::default(),
        |kind| matches!(kind, DebErrorKind::MalformedTarEnd { member, .. } if member == "data.tar"),
        &["data.tar", "non-zero"],
    );
}

#[test]
fn members_and_versions() {
    let control = gzip(&control_tar());
    let data = TarBytes::new().file("./a", b"x").finish();
    let limits = Limits::default();
    check_rejected(
        &ar(&[
            ("debian-binary", b"3.0\n"),
            ("control.tar.gz", &control),
            ("data.tar", &data),
        ]),
        &limits,
        |kind| matches!(kind, DebErrorKind::UnsupportedFormatVersion { found } if found == "3.0\n"),
        &["3.0"],
    );
    read(
        &ar(&[
            ("debian-binary/", b"2.1\n"),
            ("control.tar.gz/", &control),
            ("data.tar/", &data),
        ]),
        &limits,
    )
    .expect("2.x and GNU `/` names are fine");
    check_rejected(
        &ar(&[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)]),
        &limits,
        |kind| matches!(kind, DebErrorKind::MissingMember { expected } if expected.contains("data.tar")),
        &["data.tar"],
    );
    check_rejected(
        &ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            ("data.tar.bz2", &data),
        ]),
        &limits,
        |kind| matches!(kind, DebErrorKind::UnsupportedCompression { member, compression } if member == "data.tar.bz2" && compression == "bz2"),
        &["data.tar.bz2", "unsupported compression"],
    );
    check_rejected(
        &ar(&[
            ("debian-binary", b"2.0\n"),
            ("data.tar", &data),
            ("control.tar.gz", &control),
        ]),
        &limits,
        |kind| matches!(kind, DebErrorKind::UnexpectedMember { member, .. } if member == "data.tar"),
        &["data.tar"],
    );
    check_rejected(
        &ar(&[
            ("control.tar.gz", &control),
            ("debian-binary", b"2.0\n"),
            ("data.tar", &data),
        ]),
        &limits,
        |kind| matches!(kind, DebErrorKind::UnexpectedMember { member, .. } if member == "control.tar.gz"),
        &["control.tar.gz"],
    );
    check_rejected(
        &ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar.gz", &control),
            ("data.tar", &data),
            ("evil", b"x"),
        ]),
        &limits,
        |kind| matches!(kind, DebErrorKind::UnexpectedMember { member, .. } if member == "evil"),
        &["evil"],
    );
    let mut trailing = ar(&[
        ("debian-binary", b"2.0\n"),
        ("control.tar.gz", &control),
        ("data.tar", &data),
    ]);
    let offset = trailing.len() as u64;
    trailing.extend_from_slice(&[b'!'; 100]);
    check_rejected(
        &trailing,
        &limits,
        |kind| matches!(kind, DebErrorKind::TrailingGarbage { offset: found } if *found == offset),
        &["trailing garbage"],
    );
    check_rejected(
        b"PK\x03\x04 not an ar archive",
        &limits,
        |kind| matches!(kind, DebErrorKind::NotAnArArchive),
        &["ar"],
    );
}

#[test]
fn hostile_control_archives() {
    let data = TarBytes::new().file("./a", b"x").finish();
    let with_control = |control: Vec<u8>| {
        ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control),
            ("data.tar", &data),
        ])
    };
    let limits = Limits::default();
    check_rejected(
        &with_control(
            TarBytes::new()
                .file("./control", CONTROL)
                .symlink("./postinst", "/etc/shadow")
                .finish(),
        ),
        &limits,
        |kind| matches!(kind, DebErrorKind::Entry { member, path, problem: EntryProblem::NotAControlFile } if member == "control.tar" && path == "postinst"),
        &["control.tar", "postinst"],
    );
    check_rejected(
        &with_control(
            TarBytes::new()
                .file("./control", CONTROL)
                .file("./../postinst", b"")
                .finish(),
        ),
        &limits,
        |kind| {
            matches!(
                kind,
                DebErrorKind::Entry {
                    problem: EntryProblem::ParentComponent,
                    ..
                }
            )
        },
        &["./../postinst"],
    );
    check_rejected(
        &with_control(TarBytes::new().file("./md5sums", b"").finish()),
        &limits,
        |kind| matches!(kind, DebErrorKind::MissingControlFile { .. }),
        &["control.tar", "`control`"],
    );
    check_rejected(
        &with_control(
            TarBytes::new()
                .file("./control", CONTROL)
                .file("./templates", &[b'x'; 5000])
                .finish(),
        ),
        &Limits {
            max_control_size: 4096,
            ..Limits::default()
        },
        |kind| matches!(kind, DebErrorKind::Entry { path, problem: EntryProblem::TooLarge { .. }, .. } if path == "templates"),
        &["templates"],
    );
    check_rejected(
        &with_control(
            TarBytes::new()
                .file("./control", CONTROL)
                .file("./a", &[b'x'; 3000])
                .file("./b", &[b'x'; 3000])
                .finish(),
        ),
        &Limits {
            max_control_size: 4096,
            ..Limits::default()
        },
        |kind| matches!(kind, DebErrorKind::ControlTooLarge { limit: 4096, .. }),
        &["control.tar"],
    );
}

#[test]
fn visitor_errors() {
    struct Failing;
    impl imgbuild_apt::deb::DebVisitor for Failing {
        type Error = io::Error;
        fn entry(
            &mut self,
            entry: &imgbuild_apt::deb::DataEntry<'_>,
            contents: &mut dyn io::Read,
        ) -> io::Result<()> {
            io::copy(contents, &mut io::sink())?;
            if entry.path == "b" {
                return Err(io::Error::other("store full"));
            }
            Ok(())
        }
    }
    let deb = deb_with_data_tar(TarBytes::new().file("./a", b"x").file("./b", b"y"));
    let error =
        imgbuild_apt::deb::read_deb(deb.as_slice(), "test.deb", &Limits::default(), &mut Failing)
            .expect_err("the visitor fails");
    assert!(
        matches!(&error.kind, DebErrorKind::Visitor { path: Some(path), .. } if path == "b"),
        "{error}"
    );
    // A visitor that fails because the stream was cut reports the cut, not itself.
    let tar = TarBytes::new()
        .file("./a", b"x")
        .file("./b", &[1; 4000])
        .finish();
    let deb = deb_with_data("data.tar.zst", &zstd(&tar[..2048]));
    let error =
        imgbuild_apt::deb::read_deb(deb.as_slice(), "test.deb", &Limits::default(), &mut Failing)
            .expect_err("truncated");
    assert!(
        matches!(&error.kind, DebErrorKind::Entry { path, problem: EntryProblem::Truncated { expected: 4000, read: 512 }, .. } if path == "b"),
        "{error}"
    );
}
