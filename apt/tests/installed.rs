//! `installed::installed_packages` and `installed::compare_installed`: small status
//! files written here (epochs, `~`, a `Multi-Arch: same` pair, states that are not
//! installed, garbage refused with its line), then this host's real
//! `/var/lib/dpkg/status`, checked against what `dpkg-query` lists and compared with
//! edited copies of itself.

use std::collections::BTreeMap;
use std::process::Command;

use imgbuild_apt::installed::{
    compare_installed, installed_packages, InstalledPackage, PackageChange,
};

/// A status paragraph as dpkg writes one.
fn paragraph(name: &str, architecture: &str, version: &str, status: &str) -> String {
    format!(
        "Package: {name}\nStatus: {status}\nPriority: optional\nMaintainer: Someone <someone@example.org>\n\
         Architecture: {architecture}\nVersion: {version}\nDescription: {name}\n a package\n\n"
    )
}

fn installed(name: &str, architecture: &str, version: &str) -> String {
    paragraph(name, architecture, version, "install ok installed")
}

fn parse(status: &str) -> BTreeMap<String, InstalledPackage> {
    installed_packages(status).expect("the status file parses")
}

/// Checks the installed set, one `key version [source]` line per package.
fn check(status: &str, expected: &[&str]) {
    let lines: Vec<String> = parse(status)
        .iter()
        .map(|(key, package)| {
            assert_eq!(*key, package.key());
            match &package.source {
                Some(source) => format!("{key} {} source={source}", package.version),
                None => format!("{key} {}", package.version),
            }
        })
        .collect();
    assert_eq!(lines, expected);
}

fn render(change: &PackageChange) -> String {
    match change {
        PackageChange::Added(package) => format!("+ {} {}", package.key(), package.version),
        PackageChange::Removed(package) => format!("- {} {}", package.key(), package.version),
        PackageChange::Upgraded { before, after } => {
            format!("^ {} {} -> {}", after.key(), before.version, after.version)
        }
        PackageChange::Downgraded { before, after } => {
            format!("v {} {} -> {}", after.key(), before.version, after.version)
        }
    }
}

/// Checks the changes from `before` to `after`, and that the reverse is their mirror.
fn check_changes(before: &str, after: &str, expected: &[&str]) {
    let (before, after) = (parse(before), parse(after));
    let changes = compare_installed(&before, &after);
    let lines: Vec<String> = changes.iter().map(render).collect();
    assert_eq!(lines, expected);
    let backwards: Vec<PackageChange> = compare_installed(&after, &before);
    let mirrored: Vec<PackageChange> = changes
        .into_iter()
        .map(|change| match change {
            PackageChange::Added(package) => PackageChange::Removed(package),
            PackageChange::Removed(package) => PackageChange::Added(package),
            PackageChange::Upgraded { before, after } => PackageChange::Downgraded {
                before: after,
                after: before,
            },
            PackageChange::Downgraded { before, after } => PackageChange::Upgraded {
                before: after,
                after: before,
            },
        })
        .collect();
    assert_eq!(backwards, mirrored);
    assert!(compare_installed(&before, &before).is_empty());
}

fn check_error(status: &str, expected: &str) {
    let error = installed_packages(status).expect_err("the status file is refused");
    assert_eq!(error.to_string(), expected);
}

#[test]
fn installed_packages_by_key() {
    let status = [
        installed("zlib1g", "amd64", "1:1.2.13.dfsg-1"),
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\
         Source: glibc (2.36-9)\nVersion: 2.36-9+deb12u10\n\n"
            .to_owned(),
        "Package: libc6\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\n\
         Source: glibc\nVersion: 2.36-9+deb12u10\n\n"
            .to_owned(),
        installed("tzdata", "all", "2025b-0+deb12u1"),
        paragraph("held", "amd64", "1.0", "hold ok installed"),
        paragraph("half", "amd64", "1.0", "install reinstreq half-installed"),
        paragraph("removed", "amd64", "1.0", "deinstall ok config-files"),
        paragraph("unpacked", "amd64", "1.0", "install ok unpacked"),
        // A purged package dpkg still remembers: no version, no architecture.
        "Package: gone\nStatus: purge ok not-installed\nPriority: optional\n\n".to_owned(),
    ]
    .concat();
    check(
        &status,
        &[
            "held:amd64 1.0",
            "libc6:amd64 2.36-9+deb12u10 source=glibc",
            "libc6:i386 2.36-9+deb12u10 source=glibc",
            "tzdata:all 2025b-0+deb12u1",
            "unpacked:amd64 1.0",
            "zlib1g:amd64 1:1.2.13.dfsg-1",
        ],
    );
    check("", &[]);
}

#[test]
fn changes_in_dpkg_version_order() {
    let before = [
        installed("epoch", "amd64", "9.9-1"),
        installed("tilde", "amd64", "1.0~rc1-1"),
        installed("back", "amd64", "1.0-1"),
        installed("spelled", "amd64", "1.0"),
        installed("revision", "amd64", "2.30-21"),
        installed("libc6", "amd64", "2.36-9"),
        installed("libc6", "i386", "2.36-9"),
        installed("old", "all", "1"),
        paragraph("unpacked", "amd64", "1.0", "install ok unpacked"),
        paragraph("configured", "amd64", "1.0", "install ok half-configured"),
    ]
    .concat();
    let after = [
        installed("epoch", "amd64", "1:0.1-1"),
        installed("tilde", "amd64", "1.0-1"),
        installed("back", "amd64", "1.0~beta-1"),
        installed("spelled", "amd64", "0:1.0"),
        installed("revision", "amd64", "2.30-21+deb12u1"),
        installed("libc6", "amd64", "2.36-9+deb12u1"),
        installed("new", "all", "1"),
        installed("unpacked", "amd64", "1.0"),
        installed("configured", "amd64", "1.0"),
    ]
    .concat();
    // An unpacked package that was configured is no change (its files were there); a
    // half-configured one is not counted, so it appears as added.
    check_changes(
        &before,
        &after,
        &[
            "v back:amd64 1.0-1 -> 1.0~beta-1",
            "+ configured:amd64 1.0",
            "^ epoch:amd64 9.9-1 -> 1:0.1-1",
            "^ libc6:amd64 2.36-9 -> 2.36-9+deb12u1",
            "- libc6:i386 2.36-9",
            "+ new:all 1",
            "- old:all 1",
            "^ revision:amd64 2.30-21 -> 2.30-21+deb12u1",
            "^ tilde:amd64 1.0~rc1-1 -> 1.0-1",
        ],
    );
}

#[test]
fn garbage_is_refused_with_its_line() {
    let good = installed("a", "amd64", "1");
    check_error(
        &format!("{good}Package: b\nnot a field\n"),
        "dpkg status line 11: line is neither `Field: value` nor a continuation",
    );
    check_error(
        &format!("{good}{}", paragraph("b", "amd64", "1", "install ok bogus")),
        "dpkg status line 10: package `b` has the status `install ok bogus`, which is not `WANT FLAG STATE` as dpkg writes it",
    );
    check_error(
        &format!("{good}{}", paragraph("b", "amd64", "1", "installed")),
        "dpkg status line 10: package `b` has the status `installed`, which is not `WANT FLAG STATE` as dpkg writes it",
    );
    check_error(
        &format!("{good}{}", paragraph("b", "amd64", "1.0_1", "install ok installed")),
        "dpkg status line 10: package `b`: `1.0_1` is not a Debian version: the upstream version has a character outside [A-Za-z0-9.+~:-]",
    );
    check_error(
        "Package: b\nStatus: install ok installed\nVersion: 1\n",
        "dpkg status line 1: the paragraph has no `Architecture` field",
    );
    check_error(
        "Package: b\nStatus: install ok installed\nArchitecture: amd64\n",
        "dpkg status line 1: the paragraph has no `Version` field",
    );
    check_error(
        "Status: install ok installed\nArchitecture: amd64\nVersion: 1\n",
        "dpkg status line 1: the paragraph has no `Package` field",
    );
    check_error(
        "Package: b\nArchitecture: amd64\nVersion: 1\n",
        "dpkg status line 1: the paragraph has no `Status` field",
    );
    check_error(
        "Package: b:any\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n",
        "dpkg status line 1: `b:any` is not a valid package name",
    );
    check_error(
        &format!("{good}{good}"),
        "dpkg status line 10: `a:amd64` is installed twice (first at line 1)",
    );
}

/// The host's status file with `edit` applied to the paragraph of package `name`
/// (`None` drops it).
fn edited(status: &str, name: &str, edit: impl Fn(&str) -> Option<String>) -> String {
    let header = format!("Package: {name}\n");
    let mut found = false;
    let paragraphs: Vec<String> = status
        .split("\n\n")
        .filter_map(|paragraph| {
            if paragraph.starts_with(&header) {
                found = true;
                edit(paragraph)
            } else {
                Some(paragraph.to_owned())
            }
        })
        .collect();
    assert!(found, "no paragraph for {name}");
    paragraphs.join("\n\n")
}

#[test]
fn this_hosts_dpkg_status() {
    let Some(dpkg_query) = imgbuild_test_support::require_tool("dpkg-query") else {
        return;
    };
    let status = std::fs::read_to_string("/var/lib/dpkg/status").expect("read the status file");
    let ours = parse(&status);
    let output = Command::new(dpkg_query)
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${binary:Package} ${Architecture} ${Version}\n",
        ])
        .output()
        .expect("dpkg-query runs");
    assert!(output.status.success(), "dpkg-query failed");
    let listing = String::from_utf8(output.stdout).expect("UTF-8");
    let theirs: BTreeMap<String, String> = listing
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let (state, package, architecture, version) =
                (words.next()?, words.next()?, words.next()?, words.next()?);
            let name = package.split(':').next()?;
            (state == "installed").then(|| (format!("{name}:{architecture}"), version.to_owned()))
        })
        .collect();
    let ours_versions: BTreeMap<String, String> = ours
        .iter()
        .map(|(key, package)| (key.clone(), package.version.clone()))
        .collect();
    assert!(
        theirs.len() > 50,
        "a Debian host has more packages than {}",
        theirs.len()
    );
    assert_eq!(ours_versions, theirs);

    let dpkg = ours
        .values()
        .find(|package| package.name == "dpkg")
        .expect("dpkg is installed")
        .clone();
    let without = edited(&status, "dpkg", |_| None);
    check_changes(
        &status,
        &without,
        &[&format!("- {} {}", dpkg.key(), dpkg.version)],
    );
    let version_line = format!("\nVersion: {}\n", dpkg.version);
    let with_version = |version: &str| {
        edited(&status, "dpkg", |paragraph| {
            assert!(paragraph.contains(&version_line));
            Some(paragraph.replace(&version_line, &format!("\nVersion: {version}\n")))
        })
    };
    let newer = format!("{}+imgbuild1", dpkg.version);
    check_changes(
        &status,
        &with_version(&newer),
        &[&format!("^ {} {} -> {newer}", dpkg.key(), dpkg.version)],
    );
    let older = format!("{}~imgbuild1", dpkg.version);
    check_changes(
        &status,
        &with_version(&older),
        &[&format!("v {} {} -> {older}", dpkg.key(), dpkg.version)],
    );
    if !dpkg.version.contains(':') {
        let respelled = format!("0:{}", dpkg.version);
        check_changes(&status, &with_version(&respelled), &[]);
    }
}
