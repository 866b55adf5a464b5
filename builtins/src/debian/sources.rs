//! Where Debian repositories live: the mirror for a suite comes from `--mirror` /
//! `IMGBUILD_DEBIAN_MIRROR`, else the recipe's `mirror`, else the host's apt sources
//! (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list` and `*.sources`). No
//! mirror host name is built into imgbuild.
//!
//! A suite named `<codename>-security` is looked up in the host's sources by its own
//! name (the security archive is a separate repository); an override given with
//! `--mirror` applies to the other suites only, and `security_mirror` in the recipe (or
//! `IMGBUILD_DEBIAN_SECURITY_MIRROR`) overrides the security one.

use std::path::Path;

/// One `deb` entry of the host's apt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The repository's base URI (no trailing `/`).
    pub uri: String,
    /// Its suites.
    pub suites: Vec<String>,
    /// Its components.
    pub components: Vec<String>,
}

/// Reads the host's `deb` sources (`deb-src` and disabled entries are skipped).
pub fn host_sources() -> Vec<AptSource> {
    let mut sources = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        sources.extend(parse_one_line(&text));
    }
    let directory = Path::new("/etc/apt/sources.list.d");
    let mut names: Vec<_> = std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for path in names {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|extension| extension.to_str()) {
            Some("list") => sources.extend(parse_one_line(&text)),
            Some("sources") => sources.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    sources
}

/// Parses one-line-style sources (`deb [options] URI SUITE COMPONENT...`).
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        sources.push(AptSource {
            uri: uri.trim_end_matches('/').to_owned(),
            suites: vec![suite.to_owned()],
            components: words.map(str::to_owned).collect(),
        });
    }
    sources
}

/// Parses deb822-style sources (`Types: deb`, `URIs:`, `Suites:`, `Components:`,
/// `Enabled: no` skipped).
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for paragraph in imgbuild_debian::deb822::paragraphs(text).flatten() {
        let types = paragraph.get("Types").unwrap_or("");
        if !types.split_whitespace().any(|kind| kind == "deb") {
            continue;
        }
        if paragraph
            .get("Enabled")
            .is_some_and(|enabled| enabled.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        let words = |field: &str| -> Vec<String> {
            paragraph
                .get(field)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        for uri in words("URIs") {
            sources.push(AptSource {
                uri: uri.trim_end_matches('/').to_owned(),
                suites: words("Suites"),
                components: words("Components"),
            });
        }
    }
    sources
}

/// Explicit mirrors, from the recipe or the command line / environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// For every suite except `*-security`.
    pub mirror: Option<String>,
    /// For `*-security` suites.
    pub security_mirror: Option<String>,
}

impl Overrides {
    /// `IMGBUILD_DEBIAN_MIRROR` / `IMGBUILD_DEBIAN_SECURITY_MIRROR`.
    pub fn from_environment() -> Overrides {
        let get = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        Overrides {
            mirror: get("IMGBUILD_DEBIAN_MIRROR"),
            security_mirror: get("IMGBUILD_DEBIAN_SECURITY_MIRROR"),
        }
    }

    /// `self`, with `other`'s values where `self` has none.
    pub fn or(self, other: &Overrides) -> Overrides {
        Overrides {
            mirror: self.mirror.or_else(|| other.mirror.clone()),
            security_mirror: self
                .security_mirror
                .or_else(|| other.security_mirror.clone()),
        }
    }
}

/// The base URI for `suite`, or an error saying how to name one.
pub fn mirror_for(
    suite: &str,
    overrides: &Overrides,
    sources: &[AptSource],
) -> Result<String, String> {
    let security = suite.ends_with("-security");
    let chosen = if security {
        overrides.security_mirror.clone()
    } else {
        overrides.mirror.clone()
    };
    if let Some(mirror) = chosen {
        return Ok(mirror.trim_end_matches('/').to_owned());
    }
    if let Some(source) = sources
        .iter()
        .find(|source| source.suites.iter().any(|candidate| candidate == suite))
    {
        return Ok(source.uri.clone());
    }
    if !security {
        // Another suite of the same archive (e.g. `bookworm` for `bookworm-updates`, or
        // a different release from the same mirror).
        if let Some(source) = sources.iter().find(|source| {
            source
                .suites
                .iter()
                .any(|candidate| !candidate.ends_with("-security"))
        }) {
            return Ok(source.uri.clone());
        }
    }
    Err(format!(
        "no mirror for suite `{suite}`: the host's apt sources do not list it; set {} or pass --mirror",
        if security {
            "`security_mirror` in the recipe or IMGBUILD_DEBIAN_SECURITY_MIRROR"
        } else {
            "`mirror` in the recipe or IMGBUILD_DEBIAN_MIRROR"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats_and_picks_mirrors_by_suite() {
        let mut sources = parse_one_line(
            "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian/ stable main contrib\ndeb-src http://x.example/debian stable main\n",
        );
        sources.extend(parse_deb822(
            "Types: deb\nURIs: http://two.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.example\nSuites: sid\nComponents: main\n",
        ));
        assert_eq!(sources.len(), 3);
        assert_eq!(sources[0].uri, "http://one.example/debian");
        assert_eq!(sources[0].components, ["main", "contrib"]);
        let none = Overrides::default();
        assert_eq!(
            mirror_for("bookworm-updates", &none, &sources).as_deref(),
            Ok("http://two.example/debian")
        );
        assert_eq!(
            mirror_for("bookworm-security", &none, &sources).as_deref(),
            Ok("http://sec.example/debian-security")
        );
        assert_eq!(
            mirror_for("trixie", &none, &sources).as_deref(),
            Ok("http://one.example/debian")
        );
        let overridden = Overrides {
            mirror: Some("http://local:8080/debian/".to_owned()),
            security_mirror: None,
        };
        assert_eq!(
            mirror_for("bookworm", &overridden, &sources).as_deref(),
            Ok("http://local:8080/debian")
        );
        assert_eq!(
            mirror_for("bookworm-security", &overridden, &sources).as_deref(),
            Ok("http://sec.example/debian-security")
        );
        let error = mirror_for("bookworm-security", &none, &[]).expect_err("no source");
        assert!(error.contains("IMGBUILD_DEBIAN_SECURITY_MIRROR"), "{error}");
    }
}
