//! `run(#{ root, script | command, ... })` end to end: build steps in the sandbox, through
//! the binary. The root is a small tree made of the host's own programs (dash, bash, a
//! few coreutils, setcap/getcap) and the libraries `ldd` lists for them, imported with
//! `dir("fixture")`, so no test needs a Debian archive or the network.
//!
//! What is checked: owners, modes, hard links, fifos and file capabilities survive a step
//! and the next one and reach `result/`; root and an ordinary user (with a subordinate id
//! range) build the same tree; a user without a range is told the line to add; a failing
//! step shows its log and publishes nothing; the time limit kills every process a step
//! started; a step has loopback but no network; its view of `/proc`, the host name,
//! `/dev` and `/tmp`; and two builds give the same bytes with clamped times.
//!
//! Steps run as root need nothing more; as an ordinary user they need a subordinate id
//! range and `uidmap`. The tests that look into `result/` need root (only root writes a
//! tree owned by root as a directory; an ordinary user gets `NAME.tar`), and those that
//! run the binary as another user also `runuser` and the test user `imgbuild-test` that
//! scripts/setup.sh creates. Without them `imgbuild_test_support` skips with a message
//! on a developer machine and fails under CI.

#[path = "../common/mod.rs"]
mod common;
mod fixture;
mod isolation;
mod trees;
