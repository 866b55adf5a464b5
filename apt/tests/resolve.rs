//! The resolver on small synthetic indices: alternatives, Provides (versioned too),
//! Conflicts and Breaks, pins, exclusions, `:any`, variants, and the explanations of
//! requests that cannot be satisfied.

use imgbuild_apt::packages::{self, Package};
use imgbuild_apt::resolve::{Request, ResolveError, Universe, Variant};

/// Builds an index from `(name, version, extra fields)`.
fn index(entries: &[(&str, &str, &str)]) -> Vec<Package> {
    let mut text = String::new();
    for (number, (name, version, extra)) in entries.iter().enumerate() {
        let architecture = if extra.contains("Architecture:") {
            ""
        } else {
            "Architecture: amd64\n"
        };
        text.push_str(&format!(
            "Package: {name}\nVersion: {version}\n{architecture}{extra}Filename: pool/{name}_{number}.deb\nSize: 1\nSHA256: {:064x}\n\n",
            number
        ));
    }
    packages::parse(&text, 0, "test index").expect("test index parses")
}

fn request(include: &[&str]) -> Request {
    Request {
        variant: Variant::Custom,
        include: include.iter().map(|name| (*name).to_owned()).collect(),
        exclude: Vec::new(),
        recommends: false,
        architecture: "amd64".to_owned(),
    }
}

fn names(packages: &[Package], request: &Request) -> Result<Vec<String>, ResolveError> {
    let universe = Universe::new(packages, "amd64");
    universe.resolve(request).map(|resolution| {
        resolution
            .packages
            .iter()
            .map(|package| format!("{}={}", package.name, package.version))
            .collect()
    })
}

#[test]
fn depends_with_versions_and_the_highest_candidate() {
    let packages = index(&[
        ("app", "1.0", "Depends: libx (>= 2), tool\n"),
        ("libx", "1.5", ""),
        ("libx", "2.1", ""),
        ("tool", "1", ""),
        ("tool", "2", ""),
        ("other", "1", ""),
    ]);
    assert_eq!(
        names(&packages, &request(&["app"])).expect("resolves"),
        ["app=1.0", "libx=2.1", "tool=2"]
    );
}

#[test]
fn apt_never_falls_back_to_an_older_version() {
    // The candidate libx 3 does not satisfy `<< 3`; apt reports the problem instead of
    // installing libx 2, and so do we.
    let packages = index(&[
        ("app", "1", "Depends: libx (<< 3)\n"),
        ("libx", "2", ""),
        ("libx", "3", ""),
    ]);
    let error = names(&packages, &request(&["app"])).expect_err("unsatisfiable");
    let text = error.to_string();
    assert!(text.contains("app"), "{text}");
    assert!(text.contains("libx"), "{text}");
    // A pin makes the older version the candidate.
    assert_eq!(
        names(&packages, &request(&["app", "libx=2"])).expect("resolves"),
        ["app=1", "libx=2"]
    );
}

#[test]
fn first_alternative_wins_unless_something_installed_satisfies_another() {
    let packages = index(&[
        ("app", "1", "Depends: mta-a | mta-b\n"),
        ("mta-a", "1", ""),
        ("mta-b", "1", ""),
    ]);
    assert_eq!(
        names(&packages, &request(&["app"])).expect("resolves"),
        ["app=1", "mta-a=1"]
    );
    assert_eq!(
        names(&packages, &request(&["app", "mta-b"])).expect("resolves"),
        ["app=1", "mta-b=1"]
    );
}

#[test]
fn provides_satisfy_dependencies_and_versioned_ones_satisfy_versioned_dependencies() {
    let packages = index(&[
        ("app", "1", "Depends: awk, libfoo-api (>= 2)\n"),
        ("mawk", "1.3", "Provides: awk\nPriority: required\n"),
        ("gawk", "5", "Provides: awk\nPriority: optional\n"),
        ("libfoo-old", "1", "Provides: libfoo-api\n"),
        ("libfoo-new", "1", "Provides: libfoo-api (= 2.5)\n"),
    ]);
    // awk: the required-priority provider; libfoo-api (>= 2): only the versioned provide.
    assert_eq!(
        names(&packages, &request(&["app"])).expect("resolves"),
        ["app=1", "libfoo-new=1", "mawk=1.3"]
    );
}

#[test]
fn a_dependency_satisfied_by_an_installed_provider_installs_nothing_more() {
    // Like bookworm's lsb-base: sysvinit-utils (installed anyway) provides it.
    let packages = index(&[
        ("daemon", "1", "Depends: lsb-base (>= 3)\n"),
        ("lsb-base", "11.6", "Depends: sysvinit-utils\n"),
        (
            "sysvinit-utils",
            "3",
            "Essential: yes\nProvides: lsb-base (= 11.1.0)\n",
        ),
    ]);
    let mut with_essential = request(&["daemon"]);
    with_essential.variant = Variant::Essential;
    assert_eq!(
        names(&packages, &with_essential).expect("resolves"),
        ["daemon=1", "sysvinit-utils=3"]
    );
}

#[test]
fn conflicts_and_breaks_are_respected() {
    let packages = index(&[
        ("app", "1", "Depends: mta-a | mta-b\n"),
        ("mta-a", "1", "Conflicts: blocker\n"),
        ("mta-b", "1", ""),
        ("blocker", "1", ""),
        ("old", "1", "Breaks: lib (<< 2)\n"),
        ("lib", "1", ""),
    ]);
    // mta-a conflicts with the requested blocker, so the solver takes mta-b.
    assert_eq!(
        names(&packages, &request(&["app", "blocker"])).expect("resolves"),
        ["app=1", "blocker=1", "mta-b=1"]
    );
    // old breaks the only lib there is.
    let error = names(&packages, &request(&["old", "lib"])).expect_err("breaks");
    assert!(error.to_string().contains("lib"), "{error}");
}

#[test]
fn conflicts_with_a_virtual_name_hit_its_providers_but_not_the_package_itself() {
    let packages = index(&[
        (
            "postfix",
            "3",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent\n",
        ),
        (
            "exim",
            "4",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent\n",
        ),
    ]);
    assert_eq!(
        names(&packages, &request(&["postfix"])).expect("self-conflict is ignored"),
        ["postfix=3"]
    );
    assert!(names(&packages, &request(&["postfix", "exim"])).is_err());
}

#[test]
fn any_qualifier_needs_multi_arch_allowed_and_foreign_architectures_are_ignored() {
    let packages = index(&[
        ("tool", "1", "Depends: python3:any\n"),
        ("python3", "3.11", "Multi-Arch: allowed\n"),
        ("script", "1", "Depends: perl:any\n"),
        ("perl", "5.36", ""),
        ("arm-only", "1", "Architecture: arm64\n"),
        ("data", "1", "Architecture: all\n"),
    ]);
    assert_eq!(
        names(&packages, &request(&["tool", "data"])).expect("resolves"),
        ["data=1", "python3=3.11", "tool=1"]
    );
    assert!(names(&packages, &request(&["script"])).is_err());
    let error = names(&packages, &request(&["arm-only"])).expect_err("not for amd64");
    assert!(matches!(error, ResolveError::Unknown(_)), "{error}");
}

#[test]
fn unknown_names_get_suggestions_and_excluded_packages_explain_themselves() {
    let packages = index(&[
        ("nginx", "1.22", "Depends: nginx-common\n"),
        ("nginx-common", "1.22", ""),
        ("openssh-server", "9.2", ""),
    ]);
    let error = names(&packages, &request(&["ngnix", "openssh-sever"])).expect_err("unknown");
    let text = error.to_string();
    assert!(
        text.contains("unknown package `ngnix` (did you mean `nginx`"),
        "{text}"
    );
    assert!(text.contains("`openssh-server`"), "{text}");

    let mut excluding = request(&["nginx"]);
    excluding.exclude = vec!["nginx-common".to_owned()];
    let text = names(&packages, &excluding)
        .expect_err("excluded")
        .to_string();
    assert!(
        text.contains("nginx-common is excluded by the request"),
        "{text}"
    );
}

#[test]
fn unsatisfiable_requests_explain_the_chain() {
    let packages = index(&[
        ("web", "1", "Depends: server (>= 2)\n"),
        ("server", "1.5", "Depends: libssl (>= 3)\n"),
        ("libssl", "1.1", ""),
    ]);
    let text = names(&packages, &request(&["web"]))
        .expect_err("unsatisfiable")
        .to_string();
    assert!(text.contains("cannot be satisfied"), "{text}");
    assert!(text.contains("web"), "{text}");
    assert!(text.contains("server"), "{text}");
    assert!(text.contains(">= 2"), "{text}");
}

#[test]
fn variants_seed_essential_required_and_apt() {
    let packages = index(&[
        ("base-files", "12", "Essential: yes\nPriority: required\n"),
        ("apt", "2.6", "Priority: required\n"),
        ("mawk", "1", "Priority: required\n"),
        ("less", "1", "Priority: important\n"),
        ("vim-tiny", "1", "Priority: standard\n"),
        ("nano", "1", "Priority: optional\n"),
    ]);
    let run = |variant| {
        let mut request = request(&[]);
        request.variant = variant;
        names(&packages, &request).expect("resolves")
    };
    assert_eq!(run(Variant::Essential), ["base-files=12"]);
    assert_eq!(run(Variant::Apt), ["apt=2.6", "base-files=12"]);
    assert_eq!(
        run(Variant::Required),
        ["apt=2.6", "base-files=12", "mawk=1"]
    );
    assert_eq!(
        run(Variant::Important),
        ["apt=2.6", "base-files=12", "less=1", "mawk=1"]
    );
    assert_eq!(
        run(Variant::Standard),
        ["apt=2.6", "base-files=12", "less=1", "mawk=1", "vim-tiny=1"]
    );
}

#[test]
fn recommends_only_when_asked_and_only_when_installable() {
    let packages = index(&[
        ("app", "1", "Recommends: helper, missing-thing\n"),
        ("helper", "1", ""),
    ]);
    assert_eq!(
        names(&packages, &request(&["app"])).expect("resolves"),
        ["app=1"]
    );
    let mut with = request(&["app"]);
    with.recommends = true;
    assert_eq!(
        names(&packages, &with).expect("resolves"),
        ["app=1", "helper=1"]
    );
}
