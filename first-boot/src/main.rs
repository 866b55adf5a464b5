//! `imgbuild-first-boot`: the agent imgbuild installs into images. At each boot it
//! finds a contextualization medium by label, reads it, and applies what it asks once
//! per instance identity; every-boot scripts run on every boot. See `lib.rs`.

fn main() {
    std::process::exit(imgbuild_first_boot::run(
        std::env::args_os().skip(1).collect(),
    ));
}
