//! Builds the first-boot agent (`first-boot/`, the `imgbuild-first-boot` binary) so
//! that `first_boot::agent` can install its bytes: a release build of its own, in
//! `OUT_DIR`, with the profile fixed here (size-optimized, stripped, one codegen unit,
//! no debug information) and the source and registry paths remapped, so the same
//! source and toolchain give the same bytes wherever the repository is checked out.
//! The agent links neither the recipe language nor the store.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest
        .parent()
        .expect("builtins/ is in the workspace")
        .to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    for watched in ["first-boot", "iso", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_default();
    let remap = [
        format!("--remap-path-prefix={}=/imgbuild", workspace.display()),
        format!("--remap-path-prefix={}=/cargo", home.display()),
    ];
    let target = out.join("agent-target");
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_ENCODED_RUSTFLAGS", remap.join("\x1f"))
        .env("CARGO_TARGET_DIR", &target)
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "-p",
            "imgbuild-first-boot",
            "--bin",
            "imgbuild-first-boot",
        ])
        .status()
        .expect("run cargo for the first-boot agent");
    assert!(status.success(), "building the first-boot agent failed");
    let built = target.join("release").join("imgbuild-first-boot");
    std::fs::copy(&built, out.join("imgbuild-first-boot")).expect("copy the agent");
}
