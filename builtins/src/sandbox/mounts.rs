//! The system calls the helper and the init make: unsharing namespaces, the mounts a
//! Debian chroot expects, loopback.
//!
//! Mount points are only used when they are real directories of the checkout: a
//! symlink there (a tree whose `dev` points elsewhere) would make the kernel follow it
//! to a path outside the checkout, so it is left alone and the step runs without that
//! mount. Missing ones are created and removed again before the tree is read back, so
//! they never appear in the output.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::thread::UnshareFlags;

/// `unshare(2)`.
#[allow(unsafe_code)]
pub(super) fn unshare(flags: UnshareFlags) -> io::Result<()> {
    debug_assert!(!flags.contains(UnshareFlags::FILES));
    // SAFETY: the danger `unshare_unsafe` documents is `CLONE_FILES` (threads observing
    // file descriptors from an unshared table); it is never passed here.
    unsafe { rustix::thread::unshare_unsafe(flags) }.map_err(io::Error::from)
}

/// Makes every mount of this mount namespace private (nothing propagates to the host).
pub(super) fn make_private() -> io::Result<()> {
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(io::Error::from)
}

/// Brings the loopback interface of this network namespace up.
#[allow(unsafe_code)]
pub(super) fn loopback_up() -> io::Result<()> {
    // SAFETY: a plain socket; closed below.
    let socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if socket < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `ifreq` is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
    // SAFETY: SIOCSIFFLAGS reads an `ifreq`, which `request` is, for the socket above.
    let result = unsafe { libc::ioctl(socket, libc::SIOCSIFFLAGS, &mut request) };
    let error = io::Error::last_os_error();
    // SAFETY: `socket` is ours and closed once.
    unsafe { libc::close(socket) };
    if result < 0 {
        return Err(error);
    }
    Ok(())
}

/// What [`prepare`] did, to undo.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    mounted: Vec<PathBuf>,
    created: Vec<PathBuf>,
}

fn context(what: &str, path: &Path, error: impl Into<io::Error>) -> io::Error {
    let error = error.into();
    io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()))
}

/// A real directory at `root/name`, created when missing; `None` when something else
/// is there.
fn mount_point(root: &Path, name: &str, prepared: &mut Prepared) -> io::Result<Option<PathBuf>> {
    let path = root.join(name);
    match fs::symlink_metadata(&path) {
        Ok(metadata) if metadata.is_dir() => Ok(Some(path)),
        Ok(_) => Ok(None),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(&path)
                .map_err(|error| context("cannot create", &path, error))?;
            prepared.created.push(path.clone());
            Ok(Some(path))
        }
        Err(error) => Err(context("cannot inspect", &path, error)),
    }
}

fn mount_tmpfs(target: &Path, options: &str) -> io::Result<()> {
    let data = std::ffi::CString::new(options).map_err(io::Error::other)?;
    rustix::mount::mount(
        "tmpfs",
        target,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        data.as_c_str(),
    )
    .map_err(|error| context("cannot mount a tmpfs on", target, error))
}

/// The checkout as its own mount (so the init can `pivot_root` into it), then `/dev`,
/// `/tmp` and `/run`; `/proc` is the init's (it must be mounted from inside the pid
/// namespace) — here its directory is only made sure of.
pub(super) fn prepare(root: &Path) -> io::Result<Prepared> {
    let mut prepared = Prepared::default();
    rustix::mount::mount_bind(root, root)
        .map_err(|error| context("cannot bind-mount", root, error))?;
    prepared.mounted.push(root.to_path_buf());
    mount_point(root, "proc", &mut prepared)?;
    if let Some(dev) = mount_point(root, "dev", &mut prepared)? {
        mount_tmpfs(&dev, "mode=755,size=1m")?;
        prepared.mounted.push(dev.clone());
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            let node = dev.join(name);
            fs::write(&node, b"").map_err(|error| context("cannot create", &node, error))?;
            fs::set_permissions(&node, fs::Permissions::from_mode(0o666))
                .map_err(|error| context("cannot set permissions of", &node, error))?;
            let host = Path::new("/dev").join(name);
            rustix::mount::mount_bind(&host, &node)
                .map_err(|error| context("cannot bind-mount the host's", &host, error))?;
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ] {
            let link = dev.join(name);
            std::os::unix::fs::symlink(target, &link)
                .map_err(|error| context("cannot create", &link, error))?;
        }
        let pts = dev.join("pts");
        fs::create_dir(&pts).map_err(|error| context("cannot create", &pts, error))?;
        rustix::mount::mount(
            "devpts",
            &pts,
            "devpts",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            c"newinstance,ptmxmode=0666,mode=0620",
        )
        .map_err(|error| context("cannot mount devpts on", &pts, error))?;
        let shm = dev.join("shm");
        fs::create_dir(&shm).map_err(|error| context("cannot create", &shm, error))?;
        mount_tmpfs(&shm, "mode=1777")?;
    }
    if let Some(tmp) = mount_point(root, "tmp", &mut prepared)? {
        mount_tmpfs(&tmp, "mode=1777")?;
        prepared.mounted.push(tmp);
    }
    if let Some(run) = mount_point(root, "run", &mut prepared)? {
        mount_tmpfs(&run, "mode=755")?;
        prepared.mounted.push(run.clone());
        let lock = run.join("lock");
        fs::create_dir(&lock).map_err(|error| context("cannot create", &lock, error))?;
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o1777))
            .map_err(|error| context("cannot set permissions of", &lock, error))?;
    }
    Ok(prepared)
}

/// Unmounts `/dev`, `/tmp` and `/run` and removes the mount points that were created,
/// so the checkout holds only what the step made; the checkout's own bind mount stays
/// until [`release_root`].
pub(super) fn release(prepared: &mut Prepared) -> io::Result<()> {
    while prepared.mounted.len() > 1 {
        if let Some(path) = prepared.mounted.pop() {
            rustix::mount::unmount(&path, UnmountFlags::DETACH)
                .map_err(|error| context("cannot unmount", &path, error))?;
        }
    }
    for path in prepared.created.drain(..).rev() {
        fs::remove_dir(&path).map_err(|error| context("cannot remove", &path, error))?;
    }
    Ok(())
}

/// Unmounts the checkout's own bind mount.
pub(super) fn release_root(prepared: &mut Prepared) -> io::Result<()> {
    for path in prepared.mounted.drain(..).rev() {
        rustix::mount::unmount(&path, UnmountFlags::DETACH)
            .map_err(|error| context("cannot unmount", &path, error))?;
    }
    Ok(())
}

/// The init's view: its own mount namespace, `/proc` from its pid namespace, and the
/// checkout as `/` with the host's file systems detached.
pub(super) fn enter_root(root: &Path) -> io::Result<()> {
    unshare(UnshareFlags::NEWNS)
        .map_err(|error| context("cannot unshare the mounts of", root, error))?;
    make_private()?;
    let proc = root.join("proc");
    if fs::symlink_metadata(&proc).is_ok_and(|metadata| metadata.is_dir()) {
        rustix::mount::mount(
            "proc",
            &proc,
            "proc",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .map_err(|error| context("cannot mount proc on", &proc, error))?;
    }
    rustix::process::chdir(root).map_err(|error| context("cannot enter", root, error))?;
    rustix::process::pivot_root(".", ".")
        .map_err(|error| context("cannot pivot_root into", root, error))?;
    rustix::mount::unmount(".", UnmountFlags::DETACH)
        .map_err(|error| context("cannot detach the host's file systems from", root, error))?;
    rustix::process::chdir("/").map_err(|error| context("cannot enter", root, error))?;
    Ok(())
}
