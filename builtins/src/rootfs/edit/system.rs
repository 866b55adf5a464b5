//! Host name, timezone and locale, written the way Debian's own tools write them.
//!
//! - `hostname`: RFC 1123 labels. `/etc/hostname` is `NAME\n`; in `/etc/hosts` the
//!   `127.0.1.1` line becomes `127.0.1.1\tNAME` (`127.0.1.1\tFQDN\tSHORT` for a dotted
//!   name), replacing any there, else placed after `127.0.0.1`. A missing `/etc/hosts` is
//!   written as debian-installer's `netcfg` writes it.
//! - `timezone`: must be a file under `/usr/share/zoneinfo` in the image (tzdata).
//!   `/etc/localtime` becomes a symlink to `/usr/share/zoneinfo/ZONE` and
//!   `/etc/timezone` holds `ZONE\n`, as tzdata's postinst does.
//! - `locale`: `/etc/default/locale` is `LANG=LOCALE\n` (update-locale's form). A locale
//!   other than `C`, `C.UTF-8` or `POSIX` needs the `locales` package
//!   (`/usr/sbin/locale-gen`): its line in `/etc/locale.gen` is uncommented or, when
//!   missing, added from `/usr/share/i18n/SUPPORTED`, and the caller runs `locale-gen`.

use imgbuild_store::{EntryKind, TreePath};

use super::files::{children, follow, read_text, resolve, rewrite_file, tree_path, write_symlink};
use super::{Edit, EditError, Suggestion};

const ZONEINFO: &str = "usr/share/zoneinfo";
const C_LOCALES: &[&str] = &["C", "C.UTF-8", "C.utf8", "POSIX"];

/// Checks a host name (evaluation time).
pub(crate) fn check_hostname(name: &str) -> Result<String, String> {
    crate::media::validate::hostname(name)
}

/// Checks a timezone name: `Area/City`-like, no `..`.
pub(crate) fn check_timezone(zone: &str) -> Result<String, String> {
    let valid = !zone.is_empty()
        && zone.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part.chars().all(|character| {
                    character.is_ascii_alphanumeric() || "_+-.".contains(character)
                })
        });
    if valid {
        Ok(zone.to_owned())
    } else {
        Err(format!(
            "`{zone}` is not a timezone name (like `Europe/Paris`)"
        ))
    }
}

/// Checks a locale name: `C`, `POSIX`, or `ll[_CC][.charset][@modifier]`.
pub(crate) fn check_locale(locale: &str) -> Result<String, String> {
    let valid = locale.starts_with(|first: char| first.is_ascii_alphabetic())
        && locale
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "_.@-".contains(character));
    if valid {
        Ok(locale.to_owned())
    } else {
        Err(format!(
            "`{locale}` is not a locale name (like `en_US.UTF-8`)"
        ))
    }
}

/// Writes `/etc/hostname` and the `127.0.1.1` line of `/etc/hosts`.
pub(crate) fn set_hostname(edit: &mut Edit<'_>, name: &str) -> Result<(), EditError> {
    rewrite_file(
        edit,
        &tree_path("etc/hostname")?,
        format!("{name}\n").as_bytes(),
    )?;
    let hosts = tree_path("etc/hosts")?;
    let existing = read_text(edit, &hosts)?;
    rewrite_file(
        edit,
        &hosts,
        hosts_with(existing.as_deref(), name).as_bytes(),
    )?;
    edit.log(format!("hostname `{name}` (/etc/hostname, /etc/hosts)"));
    Ok(())
}

fn hosts_with(existing: Option<&str>, name: &str) -> String {
    let line = match name.split_once('.') {
        Some((short, _)) => format!("127.0.1.1\t{name}\t{short}"),
        None => format!("127.0.1.1\t{name}"),
    };
    let Some(existing) = existing else {
        return format!(
            "127.0.0.1\tlocalhost\n{line}\n\n\
             # The following lines are desirable for IPv6 capable hosts\n\
             ::1     localhost ip6-localhost ip6-loopback\n\
             ff02::1 ip6-allnodes\n\
             ff02::2 ip6-allrouters\n"
        );
    };
    let address = |text: &str| text.split_whitespace().next().map(str::to_owned);
    let mut lines: Vec<String> = Vec::new();
    let mut placed = false;
    for current in existing.lines() {
        if address(current).as_deref() == Some("127.0.1.1") {
            if !placed {
                lines.push(line.clone());
                placed = true;
            }
            continue;
        }
        lines.push(current.to_owned());
    }
    if !placed {
        let at = lines
            .iter()
            .position(|current| address(current).as_deref() == Some("127.0.0.1"))
            .map_or(0, |index| index + 1);
        lines.insert(at, line);
    }
    lines.join("\n") + "\n"
}

/// Points `/etc/localtime` at the zone and writes `/etc/timezone`.
pub(crate) fn set_timezone(edit: &mut Edit<'_>, zone: &str) -> Result<(), EditError> {
    let file = tree_path(&format!("{ZONEINFO}/{zone}"))?;
    let is_zone = matches!(
        follow(edit.tree, &file)?.map(|entry| &entry.kind),
        Some(EntryKind::File { .. })
    );
    if !is_zone {
        let zones = zone_names(edit)?;
        return Err(EditError::TimezoneMissing {
            timezone: zone.to_owned(),
            suggestion: Suggestion::nearest(zone, zones.iter().map(String::as_str)),
        });
    }
    write_symlink(edit, &tree_path("etc/localtime")?, &format!("/{file}"))?;
    rewrite_file(
        edit,
        &tree_path("etc/timezone")?,
        format!("{zone}\n").as_bytes(),
    )?;
    edit.log(format!("timezone `{zone}` (/etc/localtime, /etc/timezone)"));
    Ok(())
}

/// The zones in the image, for suggestions: files and links under zoneinfo, without the
/// `posix/` and `right/` copies and the data files (`zone.tab`, `tzdata.zi`).
fn zone_names(edit: &Edit<'_>) -> Result<Vec<String>, EditError> {
    let root = resolve(edit.tree, &tree_path(ZONEINFO)?)?;
    let mut names = Vec::new();
    let mut pending = vec![(root, String::new())];
    while let Some((directory, prefix)) = pending.pop() {
        for (name, kind) in children(edit.tree, &directory)? {
            let name_text = name.to_string();
            let relative = format!("{prefix}{name_text}");
            if kind == "directory" {
                if !matches!(relative.as_str(), "posix" | "right") {
                    pending.push((directory.join(&name), format!("{relative}/")));
                }
            } else if !name_text.contains('.') {
                names.push(relative);
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Writes `/etc/default/locale` and, for a non-C locale, enables it in `/etc/locale.gen`.
pub(crate) fn set_locale(edit: &mut Edit<'_>, locale: &str) -> Result<(), EditError> {
    let c_locale = C_LOCALES.contains(&locale);
    if !c_locale && follow(edit.tree, &tree_path("usr/sbin/locale-gen")?)?.is_none() {
        return Err(EditError::LocalesMissing {
            locale: locale.to_owned(),
        });
    }
    rewrite_file(
        edit,
        &tree_path("etc/default/locale")?,
        format!("LANG={locale}\n").as_bytes(),
    )?;
    if c_locale {
        edit.log(format!("locale `{locale}` (/etc/default/locale)"));
        return Ok(());
    }
    let locale_gen = tree_path("etc/locale.gen")?;
    let existing = read_text(edit, &locale_gen)?.unwrap_or_default();
    let text = match enable_in_locale_gen(&existing, locale) {
        Some(text) => text,
        None => {
            let line = supported_line(edit, locale)?;
            let mut text = existing;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&line);
            text.push('\n');
            text
        }
    };
    rewrite_file(edit, &locale_gen, text.as_bytes())?;
    edit.applied.needs_locale_gen = true;
    edit.log(format!(
        "locale `{locale}` (/etc/default/locale, /etc/locale.gen; locale-gen to run)"
    ));
    Ok(())
}

/// `locale.gen` with the line for `locale` uncommented, or `None` when it has none.
fn enable_in_locale_gen(text: &str, locale: &str) -> Option<String> {
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let uncommented = line.trim_start_matches('#').trim();
            if uncommented.split_whitespace().next() == Some(locale) {
                found = true;
                uncommented.to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    found.then(|| lines.join("\n") + "\n")
}

/// The `LOCALE CHARSET` line for `locale` from glibc's list of supported locales.
fn supported_line(edit: &Edit<'_>, locale: &str) -> Result<String, EditError> {
    let supported = read_text(edit, &TreePath::parse("usr/share/i18n/SUPPORTED")?)?;
    let Some(supported) = supported else {
        // No list to check against: the charset is in the name, or UTF-8.
        let charset = locale.split_once('.').map_or("UTF-8", |(_, charset)| {
            charset.split('@').next().unwrap_or(charset)
        });
        return Ok(format!("{locale} {charset}"));
    };
    let names: Vec<&str> = supported
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    match supported
        .lines()
        .find(|line| line.split_whitespace().next() == Some(locale))
    {
        Some(line) => Ok(line.trim().to_owned()),
        None => Err(EditError::LocaleUnknown {
            locale: locale.to_owned(),
            suggestion: Suggestion::nearest(locale, names),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::edit::test_support::Fixture;

    fn check_hosts(existing: Option<&str>, name: &str, expected: &str) {
        let mut fixture = Fixture::new();
        if let Some(existing) = existing {
            fixture.file("etc/hosts", existing);
        }
        fixture
            .edit(|edit| set_hostname(edit, name))
            .expect("hostname");
        assert_eq!(fixture.text("etc/hostname"), format!("{name}\n"));
        assert_eq!(fixture.text("etc/hosts"), expected);
        assert_eq!(fixture.meta("etc/hosts").mtime, Fixture::MTIME);
    }

    #[test]
    fn hostname_replaces_or_adds_the_127_0_1_1_line() {
        check_hosts(
            None,
            "web1",
            "127.0.0.1\tlocalhost\n127.0.1.1\tweb1\n\n\
             # The following lines are desirable for IPv6 capable hosts\n\
             ::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
        );
        check_hosts(
            Some("127.0.0.1 localhost\n127.0.1.1 build-host\n::1 localhost\n127.0.1.1 again\n"),
            "web1.example.org",
            "127.0.0.1 localhost\n127.0.1.1\tweb1.example.org\tweb1\n::1 localhost\n",
        );
        check_hosts(
            Some("# hosts\n127.0.0.1 localhost\n::1 localhost"),
            "db",
            "# hosts\n127.0.0.1 localhost\n127.0.1.1\tdb\n::1 localhost\n",
        );
    }

    fn zoneinfo() -> Fixture {
        let mut fixture = Fixture::new();
        fixture
            .file("usr/share/zoneinfo/Europe/Paris", "TZif")
            .file("usr/share/zoneinfo/Etc/UTC", "TZif")
            .symlink("usr/share/zoneinfo/UTC", "Etc/UTC")
            .file("usr/share/zoneinfo/posix/Europe/Parix", "TZif")
            .file("usr/share/zoneinfo/zone.tab", "")
            .file("etc/localtime", "old");
        fixture
    }

    #[test]
    fn timezone_links_localtime_and_writes_etc_timezone() {
        for zone in ["Europe/Paris", "UTC"] {
            let mut fixture = zoneinfo();
            fixture
                .edit(|edit| set_timezone(edit, zone))
                .expect("timezone");
            assert_eq!(
                fixture.link("etc/localtime"),
                format!("/usr/share/zoneinfo/{zone}")
            );
            assert_eq!(
                fixture.meta("etc/localtime"),
                fixture.edit(|edit| edit.meta(0o777, 0, 0))
            );
            assert_eq!(fixture.text("etc/timezone"), format!("{zone}\n"));
        }
    }

    #[test]
    fn unknown_timezones_suggest_the_nearest() {
        let mut fixture = zoneinfo();
        let error = fixture
            .edit(|edit| set_timezone(edit, "Europe/Pariss"))
            .expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "timezone `Europe/Pariss` is not in the image (no /usr/share/zoneinfo/Europe/Pariss; \
             is `tzdata` in include:?); did you mean `Europe/Paris`?"
        );
        let error = fixture
            .edit(|edit| set_timezone(edit, "Europe"))
            .expect_err("a directory");
        assert!(error
            .to_string()
            .starts_with("timezone `Europe` is not in the image"));
        assert_eq!(fixture.text("etc/localtime"), "old");
    }

    #[test]
    fn locales_are_enabled_in_locale_gen() {
        let mut fixture = Fixture::new();
        fixture
            .file("usr/sbin/locale-gen", "#!/bin/sh")
            .file(
                "etc/locale.gen",
                "# comment\n# en_US ISO-8859-1\n# en_US.UTF-8 UTF-8\n",
            )
            .file(
                "usr/share/i18n/SUPPORTED",
                "de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nfr_FR ISO-8859-1\n",
            );
        fixture
            .edit(|edit| set_locale(edit, "en_US.UTF-8"))
            .expect("en_US");
        fixture
            .edit(|edit| set_locale(edit, "fr_FR"))
            .expect("fr_FR");
        assert_eq!(
            fixture.text("etc/locale.gen"),
            "# comment\n# en_US ISO-8859-1\nen_US.UTF-8 UTF-8\nfr_FR ISO-8859-1\n"
        );
        assert_eq!(fixture.text("etc/default/locale"), "LANG=fr_FR\n");
        assert!(fixture.applied.needs_locale_gen);
        let error = fixture
            .edit(|edit| set_locale(edit, "de_DE.UTF8"))
            .expect_err("unknown");
        assert_eq!(
            error.to_string(),
            "locale `de_DE.UTF8` is not in /usr/share/i18n/SUPPORTED; did you mean `de_DE.UTF-8`?"
        );
    }

    #[test]
    fn c_locales_need_no_locales_package() {
        let mut fixture = Fixture::new();
        fixture
            .edit(|edit| set_locale(edit, "C.UTF-8"))
            .expect("C.UTF-8");
        assert_eq!(fixture.text("etc/default/locale"), "LANG=C.UTF-8\n");
        assert!(!fixture.applied.needs_locale_gen && !fixture.has("etc/locale.gen"));
        let error = fixture
            .edit(|edit| set_locale(edit, "en_GB.UTF-8"))
            .expect_err("no locales");
        assert_eq!(
            error.to_string(),
            "locale `en_GB.UTF-8` needs the `locales` package in include: (no /usr/sbin/locale-gen in the image)"
        );
    }
}
