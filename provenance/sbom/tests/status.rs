//! `installed_packages` and `listed_paths`: dpkg's database as dpkg writes it.

use imgbuild_sbom::{installed_packages, listed_paths, InstalledPackage, SbomError};

fn check(status: &str, expected: Result<Vec<InstalledPackage>, SbomError>) {
    assert_eq!(installed_packages(status), expected, "status:\n{status}");
}

fn package(name: &str, version: &str, architecture: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: architecture.to_owned(),
        source: name.to_owned(),
        source_version: version.to_owned(),
        maintainer: None,
        homepage: None,
        summary: None,
        multi_arch: None,
    }
}

const STATUS: &str = "\
Package: zlib1g
Status: install ok installed
Priority: required
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.  This package includes the shared library.
Homepage: http://zlib.net/

Package: half
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0

Package: removed
Status: deinstall ok config-files
Architecture: all
Version: 2.0

Package: libc6
Status: hold ok installed
Architecture: i386
Source: glibc
Version: 2.36-9+deb12u4

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
";

#[test]
fn only_installed_packages_sorted_with_source_and_version() {
    let zlib = InstalledPackage {
        source: "zlib".to_owned(),
        maintainer: Some("Mark Brown <broonie@debian.org>".to_owned()),
        homepage: Some("http://zlib.net/".to_owned()),
        summary: Some("compression library - runtime".to_owned()),
        multi_arch: Some("same".to_owned()),
        ..package("zlib1g", "1:1.2.13.dfsg-1", "amd64")
    };
    let glibc = |architecture| InstalledPackage {
        source: "glibc".to_owned(),
        ..package("libc6", "2.36-9+deb12u4", architecture)
    };
    check(
        STATUS,
        Ok(vec![
            package("base-files", "12.4+deb12u5", "amd64"),
            glibc("amd64"),
            glibc("i386"),
            zlib,
        ]),
    );
}

#[test]
fn a_binary_rebuild_keeps_the_source_version() {
    let status = "Package: foo\nStatus: install ok installed\nArchitecture: amd64\n\
                  Version: 1.0-1+b1\nSource: foo (1.0-1)\n";
    check(
        status,
        Ok(vec![InstalledPackage {
            source_version: "1.0-1".to_owned(),
            ..package("foo", "1.0-1+b1", "amd64")
        }]),
    );
}

#[test]
fn an_empty_status_has_no_packages() {
    check("", Ok(vec![]));
    check("\n\n", Ok(vec![]));
}

#[test]
fn broken_databases_are_errors_that_name_the_line_or_package() {
    check(
        "Package: a\nStatus: install ok installed\nno colon here\n",
        Err(SbomError::MalformedStatusLine { line: 3 }),
    );
    check(
        "\nPackage: a\nStatus: install ok installed\nArchitecture: all\n",
        Err(SbomError::MissingStatusField {
            line: 2,
            package: "a".to_owned(),
            field: "Version",
        }),
    );
    check(
        "Status: install ok installed\nVersion: 1\n",
        Err(SbomError::MissingStatusField {
            line: 1,
            package: String::new(),
            field: "Package",
        }),
    );
    check(
        "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\nSource: b (1\n",
        Err(SbomError::MalformedSource {
            package: "a".to_owned(),
            value: "b (1".to_owned(),
        }),
    );
    let twice = "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n";
    check(
        &format!("{twice}\n{twice}"),
        Err(SbomError::DuplicatePackage {
            package: "a".to_owned(),
            architecture: "all".to_owned(),
        }),
    );
}

#[test]
fn list_files_give_their_paths() {
    let list = "/.\n/usr\n/usr/bin\n/usr/bin/with space \n\n/usr/share/doc/x/copyright\n";
    assert_eq!(
        listed_paths(list).collect::<Vec<_>>(),
        vec![
            "/.",
            "/usr",
            "/usr/bin",
            "/usr/bin/with space ",
            "/usr/share/doc/x/copyright"
        ]
    );
}
