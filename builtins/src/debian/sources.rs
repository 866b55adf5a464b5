//! Where Debian repositories live: the mirror for a suite comes from `--mirror` /
//! `IMGBUILD_DEBIAN_MIRROR`, else the recipe's `mirror`, else the host's apt sources
//! (`sources.list`, `sources.list.d/*.list` and `*.sources`). No mirror host name is
//! built into imgbuild. The CLI reads the environment and the host's files once and
//! hands the result to builders as [`Mirrors`]; this module only parses and chooses.
//!
//! A suite named `<codename>-security` is looked up in the host's sources by its own
//! name (the security archive is a separate repository); an override given with
//! `--mirror` applies to the other suites only, and `security_mirror` in the recipe (or
//! `IMGBUILD_DEBIAN_SECURITY_MIRROR`) overrides the security one.

use imgbuild_engine::Mirrors;

/// One `deb` entry of the host's apt configuration.
pub use imgbuild_engine::HostRepository as AptSource;

/// Reads the host's `deb` sources (`deb-src` and disabled entries are skipped) from
/// `sources.list` text and the files of `sources.list.d` (`(file name, text)`, sorted):
/// the CLI reads the files, this parses them.
pub fn parse_host(sources_list: Option<&str>, parts: &[(String, String)]) -> Vec<AptSource> {
    let mut sources = Vec::new();
    if let Some(text) = sources_list {
        sources.extend(parse_one_line(text));
    }
    for (name, text) in parts {
        if name.ends_with(".list") {
            sources.extend(parse_one_line(text));
        } else if name.ends_with(".sources") {
            sources.extend(parse_deb822(text));
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
    for paragraph in imgbuild_apt::deb822::paragraphs(text).flatten() {
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
    /// The mirrors the command line chose (`--mirror`, `IMGBUILD_DEBIAN_MIRROR`,
    /// `IMGBUILD_DEBIAN_SECURITY_MIRROR`, resolved by the CLI into [`Mirrors`]).
    pub fn from_command_line(mirrors: &Mirrors) -> Overrides {
        Overrides {
            mirror: mirrors.debian.clone(),
            security_mirror: mirrors.debian_security.clone(),
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
