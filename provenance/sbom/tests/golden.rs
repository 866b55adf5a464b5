//! `spdx_json` on a small fixed input: the exact bytes (by SHA-256, and a few lines read
//! back), the same bytes every time, and the input errors that name what is wrong.

use std::collections::BTreeMap;

use imgbuild_sbom::{spdx_json, FileRecord, Pin, SbomError, SbomInput};
use sha2::{Digest, Sha256};

const STATUS: &str = "\
Package: nginx
Status: install ok installed
Maintainer: Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>
Architecture: amd64
Source: nginx
Version: 1.22.1-9
Description: small, powerful, scalable web/proxy server
 Nginx (\"engine X\") is a high-performance web and reverse proxy server.
Homepage: https://nginx.org

Package: libstdc++6
Status: install ok installed
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Description: GNU Standard C++ Library v3

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1
";

fn input() -> SbomInput {
    let mut copyrights = BTreeMap::new();
    copyrights.insert(
        "nginx".to_owned(),
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
         Files: *\nCopyright: Igor Sysoev\nLicense: BSD-2-clause\n\n\
         Files: debian/*\nCopyright: Debian\nLicense: public-domain\n This is free.\n"
            .to_owned(),
    );
    copyrights.insert(
        "base-files".to_owned(),
        "This is the Debian prepackaged version of the Debian Base System.\n".to_owned(),
    );
    SbomInput {
        name: "web".to_owned(),
        subject: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_owned(),
        source_date_epoch: 1_700_000_000,
        tool: "imgbuild-0.1.0".to_owned(),
        status: STATUS.to_owned(),
        pins: vec![
            Pin {
                name: "nginx".to_owned(),
                version: "1.22.1-9".to_owned(),
                architecture: "amd64".to_owned(),
                sha256: "aa".repeat(32),
                size: 520_000,
                filename: "pool/main/n/nginx/nginx_1.22.1-9_amd64.deb".to_owned(),
                suite: "bookworm".to_owned(),
            },
            // The tree holds 12.4+deb12u5: this pin is not used.
            Pin {
                name: "base-files".to_owned(),
                version: "12.4+deb12u4".to_owned(),
                architecture: "amd64".to_owned(),
                sha256: "bb".repeat(32),
                size: 70_000,
                filename: "pool/main/b/base-files/base-files_12.4+deb12u4_amd64.deb".to_owned(),
                suite: "bookworm".to_owned(),
            },
        ],
        copyrights,
        files: vec![
            FileRecord {
                path: "/etc/hostname".to_owned(),
                size: 4,
                sha1: "cc".repeat(20),
                sha256: "dd".repeat(32),
            },
            FileRecord {
                path: "/etc/app/config.json".to_owned(),
                size: 2,
                sha1: "ee".repeat(20),
                sha256: "ff".repeat(32),
            },
        ],
    }
}

/// The SHA-256 of the golden document. When the format changes on purpose, read the new
/// document (printed on failure) and update this.
const GOLDEN_SHA256: &str = "5614827cc74fa585b0e892f0c2243337146cd176bf1f045c5473a92265bc12a3";

#[test]
fn the_document_is_byte_for_byte_the_golden_one() {
    let bytes = spdx_json(&input()).expect("valid input");
    let text = String::from_utf8(bytes.clone()).expect("UTF-8");
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        GOLDEN_SHA256,
        "the document changed:\n{text}"
    );
    assert_eq!(spdx_json(&input()).expect("valid input"), bytes);
    assert!(text.ends_with("}\n"));
    for expected in [
        "\"created\": \"2023-11-14T22:13:20Z\"",
        "\"documentNamespace\": \"https://imgbuild.invalid/spdx/web/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"",
        "\"SPDXID\": \"SPDXRef-Package-deb-libstdcX2BX2B6-amd64\"",
        "\"referenceLocator\": \"pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64&upstream=gcc-12\"",
        "\"supplier\": \"Organization: Debian Nginx Maintainers (pkg-nginx-maintainers@alioth-lists.debian.net)\"",
        "\"licenseDeclared\": \"BSD-2-Clause AND LicenseRef-public-domain\"",
        "\"packageFileName\": \"nginx_1.22.1-9_amd64.deb\"",
        "\"fileName\": \"./etc/hostname\"",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    // The stale base-files pin gave neither a checksum nor a file name.
    assert!(!text.contains(&"bb".repeat(32)));
    assert!(!text.contains("base-files_12.4"));
}

#[test]
fn the_order_of_pins_and_files_does_not_matter() {
    let mut shuffled = input();
    shuffled.pins.reverse();
    shuffled.files.reverse();
    assert_eq!(spdx_json(&shuffled), spdx_json(&input()));
}

fn check_error(change: impl FnOnce(&mut SbomInput), expected: SbomError) {
    let mut changed = input();
    change(&mut changed);
    assert_eq!(spdx_json(&changed), Err(expected));
}

#[test]
fn bad_input_is_an_error_naming_it() {
    check_error(|input| input.name.clear(), SbomError::EmptyName);
    check_error(
        |input| input.subject = "a/b".to_owned(),
        SbomError::InvalidSubject("a/b".to_owned()),
    );
    check_error(
        |input| input.files[0].path = "etc/hostname".to_owned(),
        SbomError::InvalidFilePath {
            path: "etc/hostname".to_owned(),
        },
    );
    check_error(
        |input| input.files[1].path = "/etc/hostname".to_owned(),
        SbomError::DuplicateFile {
            path: "/etc/hostname".to_owned(),
        },
    );
    check_error(
        |input| input.files[0].sha1 = "CC".repeat(20),
        SbomError::InvalidDigest {
            subject: "/etc/hostname".to_owned(),
            field: "sha1",
            value: "CC".repeat(20),
            length: 40,
        },
    );
    check_error(
        |input| input.pins[0].sha256 = "abc".to_owned(),
        SbomError::InvalidDigest {
            subject: "pin nginx:amd64".to_owned(),
            field: "sha256",
            value: "abc".to_owned(),
            length: 64,
        },
    );
    check_error(
        |input| {
            let again = input.pins[0].clone();
            input.pins.push(again);
        },
        SbomError::DuplicatePin {
            package: "nginx".to_owned(),
            architecture: "amd64".to_owned(),
            version: "1.22.1-9".to_owned(),
        },
    );
    check_error(
        |input| input.source_date_epoch = i64::MAX,
        SbomError::TimestampOutOfRange(i64::MAX),
    );
    check_error(
        |input| {
            input.status.push_str(
                "\nPackage: a-b\nStatus: install ok installed\nArchitecture: c\nVersion: 1\n\n\
                 Package: a\nStatus: install ok installed\nArchitecture: b-c\nVersion: 1\n",
            )
        },
        SbomError::DuplicateIdentifier {
            identifier: "SPDXRef-Package-deb-a-b-c".to_owned(),
            first: "a:b-c".to_owned(),
            second: "a-b:c".to_owned(),
        },
    );
}
