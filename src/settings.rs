//! Settings from the machine, resolved once here at the edge into the engine's
//! [`BuildConfig`]: `--offline`, the Debian mirror (`--mirror`, then
//! `IMGBUILD_DEBIAN_MIRROR` / `IMGBUILD_DEBIAN_SECURITY_MIRROR`) and the host's apt
//! sources (`/etc/apt/sources.list`, `/etc/apt/sources.list.d/*.list` and `*.sources`).
//! Builders never read the environment or host files; they get this value.

use std::path::Path;

use imgbuild_builtins::debian::sources;
use imgbuild_engine::{BuildConfig, Mirrors};

/// The host's apt configuration directory.
const APT_SOURCES: &str = "/etc/apt";

/// Resolves the build configuration for this invocation.
pub fn build_config(offline: bool, mirror: Option<&str>) -> BuildConfig {
    BuildConfig {
        offline,
        mirrors: mirrors(mirror),
        sandbox: crate::sandbox_settings::sandbox_config(),
        tools: tools(),
    }
}

/// Host programs builders may run, found on `PATH` here (builders never search it).
const TOOLS: &[&str] = &["mke2fs", "qemu-img", "mkfs.vfat", "mcopy"];

fn tools() -> imgbuild_engine::Tools {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let directories: Vec<std::path::PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .collect();
    imgbuild_engine::Tools {
        programs: TOOLS
            .iter()
            .filter_map(|name| {
                directories
                    .iter()
                    .map(|directory| directory.join(name))
                    .find(|candidate| candidate.is_file())
                    .map(|found| ((*name).to_owned(), found))
            })
            .collect(),
    }
}

/// `--mirror`, else the environment; the host's sources behind both.
pub fn mirrors(mirror: Option<&str>) -> Mirrors {
    let variable = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    Mirrors {
        debian: mirror
            .map(str::to_owned)
            .filter(|value| !value.trim().is_empty())
            .or_else(|| variable("IMGBUILD_DEBIAN_MIRROR")),
        debian_security: variable("IMGBUILD_DEBIAN_SECURITY_MIRROR"),
        host: host_sources(Path::new(APT_SOURCES)),
    }
}

/// The `deb` entries of the apt configuration under `root` (`deb-src` and disabled
/// entries skipped); unreadable files are skipped (they can only remove mirrors).
fn host_sources(root: &Path) -> Vec<imgbuild_engine::HostRepository> {
    let main = std::fs::read_to_string(root.join("sources.list")).ok();
    let mut names: Vec<_> = std::fs::read_dir(root.join("sources.list.d"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let parts: Vec<(String, String)> = names
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            Some((path.file_name()?.to_string_lossy().into_owned(), text))
        })
        .collect();
    sources::parse_host(main.as_deref(), &parts)
}
