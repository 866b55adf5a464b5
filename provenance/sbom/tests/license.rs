//! `declared_license`: Debian copyright files (snippets of real ones from Debian 12) to SPDX
//! license expressions, and the texts of the license references they use.

use imgbuild_sbom::{declared_license, declared_license_with_references};

fn check(copyright: &str, expected: Option<&str>) {
    let declared = declared_license(copyright);
    assert_eq!(
        declared.as_deref(),
        expected,
        "copyright file:\n{copyright}"
    );
    if let Some(expression) = declared {
        spdx::Expression::parse_mode(&expression, spdx::ParseMode::LAX)
            .unwrap_or_else(|error| panic!("{expression:?} is not an SPDX expression: {error}"));
    }
}

const HEADER: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n";

fn with_files(licenses: &[&str]) -> String {
    let mut text = HEADER.to_owned();
    text.push_str("Upstream-Name: example\n");
    for (index, license) in licenses.iter().enumerate() {
        text.push_str(&format!(
            "\nFiles: part{index}/*\nCopyright: 2020 Someone\nLicense: {license}\n"
        ));
    }
    text
}

#[test]
fn debian_short_names_map_to_spdx_identifiers() {
    for (debian, spdx) in [
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("GPLv3+", "GPL-3.0-or-later"),
        ("GPL", "GPL-1.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("LGPL-2", "LGPL-2.0-only"),
        ("LGPL", "LGPL-2.0-or-later"),
        ("AGPL-3+", "AGPL-3.0-or-later"),
        ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("BSD-2-Clause", "BSD-2-Clause"),
        ("Expat", "MIT"),
        ("Apache-2.0", "Apache-2.0"),
        ("Apache-2", "Apache-2.0"),
        ("Artistic", "Artistic-1.0-Perl"),
        ("zlib", "Zlib"),
        ("CC0", "CC0-1.0"),
        ("curl", "curl"),
        ("MPL-1.1+", "MPL-1.1+"),
        ("public-domain", "LicenseRef-public-domain"),
        ("MIT/X11", "LicenseRef-MIT-X11"),
        ("BSD-2-Clause-alike", "LicenseRef-BSD-2-Clause-alike"),
    ] {
        check(&with_files(&[debian]), Some(spdx));
    }
}

#[test]
fn operators_commas_and_exceptions() {
    check(
        &with_files(&["GPL-1+ or Artistic"]),
        Some("GPL-1.0-or-later OR Artistic-1.0-Perl"),
    );
    check(&with_files(&["BSL-1.0 and Jam"]), Some("BSL-1.0 AND Jam"));
    check(
        &with_files(&["GPL-2+ or Artistic-2.0, and BSD-3-clause"]),
        Some("(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause"),
    );
    check(
        &with_files(&["LGPL-3+ or GPL-2+"]),
        Some("LGPL-3.0-or-later OR GPL-2.0-or-later"),
    );
    check(
        &with_files(&["GPL-2+ with Autoconf exception"]),
        Some("GPL-2.0-or-later WITH Autoconf-exception-2.0"),
    );
    check(
        &with_files(&["GPL-3+ with Bison exception"]),
        Some("GPL-3.0-or-later WITH Bison-exception-2.2"),
    );
    check(
        &with_files(&["GPL-2 with Linux-syscall-note exception"]),
        Some("GPL-2.0-only WITH Linux-syscall-note"),
    );
    check(
        &with_files(&["GPL-2+ with OpenSSL exception"]),
        Some("LicenseRef-GPL-2--with-OpenSSL-exception"),
    );
}

#[test]
fn paragraphs_are_deduplicated_sorted_and_joined_with_and() {
    check(
        &with_files(&["GPL-2+", "LGPL-2.1+", "GPL-2+", "Expat", "BSL-1.0 and MIT"]),
        Some("BSL-1.0 AND GPL-2.0-or-later AND LGPL-2.1-or-later AND MIT"),
    );
    check(
        &with_files(&["GPL-1+ or Artistic", "Zlib"]),
        Some("(GPL-1.0-or-later OR Artistic-1.0-Perl) AND Zlib"),
    );
}

/// Files that are not machine-readable (the start of a libc6-style prose file, an old
/// DEP-5 draft header) and machine-readable files whose Files paragraphs name no license.
#[test]
fn files_that_are_not_machine_readable_declare_nothing() {
    check(
        "This is the Debian prepackaged version of the GNU C Library\n\
         version 2.36.\n\nIt was put together by the GNU Libc Maintainers.\n",
        None,
    );
    check("", None);
    check(&format!("{HEADER}\nFiles: *\nCopyright: nobody\n"), None);
    check(
        "Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135\n\nFiles: *\nLicense: GPL-2+\n",
        None,
    );
}

/// A copyright file shaped like Debian 12's zlib one (abridged, one paragraph added), with stand-alone
/// License paragraphs.
#[test]
fn stand_alone_license_paragraphs_give_the_reference_text() {
    let copyright = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zlib
Source: https://zlib.net/

Files: *
Copyright: 1995-2022 Jean-loup Gailly and Mark Adler
License: Zlib

Files: contrib/dotzlib/*
Copyright: 2004 Henrik Ravn
License: BSL-1.0

Files: contrib/puff/*
Copyright: 2002-2013 Mark Adler
License: Zlib

Files: debian/*
Copyright: 2000-2022 Mark Brown
License: public-domain
 The Debian packaging is placed in the public domain.

Files: contrib/minizip/*
Copyright: 1998-2010 Gilles Vollant
License: Info-ZIP-ish

License: Info-ZIP-ish
 This software is provided 'as-is', without any express or implied
 warranty.
 .
 Permission is granted to anyone to use this software.
";
    check(
        copyright,
        Some("BSL-1.0 AND LicenseRef-Info-ZIP-ish AND LicenseRef-public-domain AND Zlib"),
    );
    let declared = declared_license_with_references(copyright).expect("machine-readable");
    let texts: Vec<(&str, Option<&str>)> = declared
        .references
        .iter()
        .map(|(id, reference)| (id.as_str(), reference.text.as_deref()))
        .collect();
    assert_eq!(
        texts,
        vec![
            (
                "LicenseRef-Info-ZIP-ish",
                Some(
                    "This software is provided 'as-is', without any express or implied\n\
                     warranty.\n\nPermission is granted to anyone to use this software."
                )
            ),
            (
                "LicenseRef-public-domain",
                Some("The Debian packaging is placed in the public domain.")
            ),
        ]
    );
}
