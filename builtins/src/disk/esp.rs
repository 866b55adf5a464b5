//! The EFI system partition for `boot: "systemd-boot"`: FAT32 made by `mkfs.vfat
//! --invariant` in a file of its own, filled by `mcopy` (dosfstools and mtools) and
//! copied to its offset in the disk image, with the image's own systemd-boot as the removable-media loader
//! (`EFI/BOOT/BOOTX64.EFI`: no NVRAM entry, no installer), `loader/loader.conf`, one
//! Boot Loader Specification entry, and the image's newest kernel and its initramfs.
//!
//! Reproducible: `--invariant` fixes what mkfs.vfat would take from the clock or
//! randomness, the volume id is derived by the caller, and every file and directory
//! copied gets `source_date_epoch` as its mtime before `mcopy -m` keeps it.

use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_engine::BuildError;
use imgbuild_store::{EntryKind, Store, Tree, TreePath};

/// systemd-boot's EFI binary in the image (Debian's systemd-boot-efi).
pub const SYSTEMD_BOOT: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";

/// The kernel and initramfs an image boots.
#[derive(Debug, Clone)]
pub struct Boot {
    /// `boot/vmlinuz-VERSION` in the tree.
    pub kernel: TreePath,
    /// `boot/initrd.img-VERSION`.
    pub initrd: TreePath,
    /// Bytes the ESP's files take.
    pub bytes: u64,
}

fn file_size(tree: &Tree, path: &TreePath) -> Option<u64> {
    match tree.get(path).map(|entry| &entry.kind) {
        Some(EntryKind::File { size, .. }) => Some(*size),
        _ => None,
    }
}

/// The newest kernel with an initramfs, and the boot loader, or why the tree cannot boot.
pub fn find(tree: &Tree) -> Result<Boot, BuildError> {
    let loader =
        TreePath::parse(SYSTEMD_BOOT).map_err(|error| BuildError::Malformed(error.to_string()))?;
    let Some(loader_size) = file_size(tree, &loader) else {
        return Err(BuildError::Failed(format!(
            "boot \"systemd-boot\" needs /{SYSTEMD_BOOT} in the root tree: add `systemd-boot-efi` to the package set's include"
        )));
    };
    let boot = TreePath::parse("boot").map_err(|error| BuildError::Malformed(error.to_string()))?;
    let mut versions: Vec<String> = tree
        .directory(&boot)
        .map(|directory| {
            directory
                .entries
                .keys()
                .filter_map(|name| name.to_string().strip_prefix("vmlinuz-").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by(|a, b| {
        match (
            imgbuild_apt::version::Version::parse(a),
            imgbuild_apt::version::Version::parse(b),
        ) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => a.cmp(b),
        }
    });
    let Some(version) = versions.last() else {
        return Err(BuildError::Failed(
            "boot \"systemd-boot\" needs a kernel (/boot/vmlinuz-*) in the root tree: add one (e.g. linux-image-cloud-amd64) to the package set".to_owned(),
        ));
    };
    let kernel = TreePath::parse(&format!("boot/vmlinuz-{version}"))
        .map_err(|error| BuildError::Malformed(error.to_string()))?;
    let initrd = TreePath::parse(&format!("boot/initrd.img-{version}"))
        .map_err(|error| BuildError::Malformed(error.to_string()))?;
    let (Some(kernel_size), Some(initrd_size)) =
        (file_size(tree, &kernel), file_size(tree, &initrd))
    else {
        return Err(BuildError::Failed(format!(
            "boot \"systemd-boot\": /boot/vmlinuz-{version} has no initramfs (/boot/initrd.img-{version}); a Debian kernel needs one for a virtio disk (initramfs-tools in the package set)"
        )));
    };
    Ok(Boot {
        kernel,
        initrd,
        bytes: loader_size + kernel_size + initrd_size,
    })
}

/// What the ESP needs: twice its files and 32 MiB, at least 64 MiB, whole MiB.
pub fn size(boot: &Boot) -> u64 {
    let mib = 1u64 << 20;
    (boot.bytes * 2 + 32 * mib).max(64 * mib).div_ceil(mib) * mib
}

fn write_blob(store: &Store, tree: &Tree, path: &TreePath, to: &Path) -> Result<(), BuildError> {
    let Some(EntryKind::File { blob, .. }) = tree.get(path).map(|entry| &entry.kind) else {
        return Err(BuildError::Malformed(format!("/{path} is not a file")));
    };
    let mut file = std::fs::File::create(to)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", to.display())))?;
    store.copy_blob_to_file(blob, &mut file)?;
    Ok(())
}

fn run(command: &mut Command, what: &str, log: &mut Vec<u8>) -> Result<(), BuildError> {
    let output = command
        .output()
        .map_err(|error| BuildError::Environment(format!("cannot run {what}: {error}")))?;
    log.extend_from_slice(&output.stdout);
    log.extend_from_slice(&output.stderr);
    if output.status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// What to write.
pub struct Esp<'a> {
    /// The disk image file.
    pub image: &'a Path,
    /// First sector (512 bytes) of the partition.
    pub first_lba: u64,
    /// Size of the partition, bytes.
    pub size: u64,
    /// FAT volume id (8 hex digits).
    pub volume_id: String,
    /// The kernel command line's `root=`.
    pub root: String,
    /// `source_date_epoch`.
    pub epoch: i64,
}

/// Makes and fills the ESP (see the module docs).
pub fn write(
    store: &Store,
    tree: &Tree,
    boot: &Boot,
    esp: &Esp<'_>,
    tools: (&Path, &Path),
    scratch: &Path,
    log: &mut Vec<u8>,
) -> Result<(), BuildError> {
    let (mkfs, mcopy) = tools;
    let directory = tempfile::Builder::new()
        .prefix("esp-")
        .tempdir_in(scratch)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", scratch.display())))?;
    let root = directory.path();
    let make = |path: &str| -> Result<PathBuf, BuildError> {
        let full = root.join(path);
        std::fs::create_dir_all(&full)
            .map_err(|error| BuildError::Environment(format!("{}: {error}", full.display())))?;
        Ok(full)
    };
    let efi_boot = make("EFI/BOOT")?;
    let entries = make("loader/entries")?;
    let loader =
        TreePath::parse(SYSTEMD_BOOT).map_err(|error| BuildError::Malformed(error.to_string()))?;
    write_blob(store, tree, &loader, &efi_boot.join("BOOTX64.EFI"))?;
    write_blob(store, tree, &boot.kernel, &root.join("vmlinuz"))?;
    write_blob(store, tree, &boot.initrd, &root.join("initrd.img"))?;
    let text = |path: PathBuf, content: String| {
        std::fs::write(&path, content)
            .map_err(|error| BuildError::Environment(format!("{}: {error}", path.display())))
    };
    text(
        root.join("loader/loader.conf"),
        "default imgbuild.conf\ntimeout 0\n".to_owned(),
    )?;
    text(
        entries.join("imgbuild.conf"),
        format!(
            "title Debian (imgbuild)\nlinux /vmlinuz\ninitrd /initrd.img\noptions root={} rw console=tty0 console=ttyS0,115200\n",
            esp.root
        ),
    )?;
    // Every mtime is the epoch, directories last (writing into one changes its mtime).
    let time = rustix::fs::Timespec {
        tv_sec: esp.epoch,
        tv_nsec: 0,
    };
    let stamps = rustix::fs::Timestamps {
        last_access: time,
        last_modification: time,
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)
                .map_err(|error| BuildError::Environment(error.to_string()))?
                .flatten()
            {
                stack.push(entry.path());
            }
        }
        paths.push(path);
    }
    paths.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    for path in &paths {
        rustix::fs::utimensat(
            rustix::fs::CWD,
            path,
            &stamps,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|error| BuildError::Environment(format!("{}: {error}", path.display())))?;
    }
    // The FAT is made in a file of its own and copied to its offset: `mkfs.vfat
    // --offset` with `mcopy -i IMAGE@@OFFSET` gave a file system mtools could not
    // write ("No directory slots") with dosfstools 4.2 and mtools 4.0.32.
    let fat = directory.path().join("esp.fat");
    let file = std::fs::File::create(&fat)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", fat.display())))?;
    file.set_len(esp.size)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", fat.display())))?;
    drop(file);
    run(
        Command::new(mkfs)
            .env_clear()
            .args(["-F", "32", "--invariant", "-i", &esp.volume_id, "-n", "ESP"])
            .arg(&fat),
        "mkfs.vfat",
        log,
    )?;
    run(
        Command::new(mcopy)
            .env_clear()
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-s", "-m", "-i"])
            .arg(&fat)
            .arg(root.join("EFI"))
            .arg(root.join("loader"))
            .arg(root.join("vmlinuz"))
            .arg(root.join("initrd.img"))
            .arg("::/"),
        "mcopy",
        log,
    )?;
    copy_at(&fat, esp.image, esp.first_lba * 512)
}

/// Copies `from` into `to` at `offset`, skipping runs of zeros (the image stays sparse).
fn copy_at(from: &Path, to: &Path, offset: u64) -> Result<(), BuildError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let failed = |path: &Path, error: std::io::Error| {
        BuildError::Environment(format!("{}: {error}", path.display()))
    };
    let mut source = std::fs::File::open(from).map_err(|error| failed(from, error))?;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(|error| failed(to, error))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut position = offset;
    loop {
        let read = source
            .read(&mut buffer)
            .map_err(|error| failed(from, error))?;
        if read == 0 {
            return Ok(());
        }
        if buffer[..read].iter().any(|byte| *byte != 0) {
            target
                .seek(SeekFrom::Start(position))
                .map_err(|error| failed(to, error))?;
            target
                .write_all(&buffer[..read])
                .map_err(|error| failed(to, error))?;
        }
        position += read as u64;
    }
}
