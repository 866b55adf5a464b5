//! Boot partitions for `boot: "systemd-boot"`: FAT32 made by `mkfs.vfat --invariant` in
//! a file of its own, filled by `mcopy` (dosfstools and mtools) and copied to its offset
//! in the disk image. The ESP holds the image's own systemd-boot as the removable-media
//! loader (`EFI/BOOT/BOOTX64.EFI`: no NVRAM entry, no installer) and
//! `loader/loader.conf`; one Boot Loader Specification entry and the image's newest
//! kernel and its initramfs go on the ESP too, or on an XBOOTLDR partition (a separate
//! /boot) when the disk declares one ([`files`]).
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
    /// systemd-boot's EFI binary in the tree.
    pub loader: TreePath,
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
        loader,
        kernel,
        initrd,
        bytes: loader_size + kernel_size + initrd_size,
    })
}

/// What a boot partition needs for `bytes` of files: twice them and 32 MiB, at least
/// 64 MiB (FAT32's smallest comfortable size), whole MiB.
pub fn size(bytes: u64) -> u64 {
    let mib = 1u64 << 20;
    (bytes * 2 + 32 * mib).max(64 * mib).div_ceil(mib) * mib
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

/// Where a file on a FAT partition comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file of the root tree.
    Tree(TreePath),
    /// Text made here.
    Text(String),
}

/// The files of the boot partitions: `(ESP, XBOOTLDR)`. Without a separate /boot
/// (`xbootldr` false) everything is on the ESP and the second list is empty.
pub fn files(boot: &Boot, options: &str, xbootldr: bool) -> [Vec<(String, Source)>; 2] {
    let loader = vec![
        (
            "EFI/BOOT/BOOTX64.EFI".to_owned(),
            Source::Tree(boot.loader.clone()),
        ),
        (
            "loader/loader.conf".to_owned(),
            Source::Text("default imgbuild.conf\ntimeout 0\n".to_owned()),
        ),
    ];
    let kernel = vec![
        (
            "loader/entries/imgbuild.conf".to_owned(),
            Source::Text(format!(
                "title Debian (imgbuild)\nlinux /vmlinuz\ninitrd /initrd.img\noptions {options}\n"
            )),
        ),
        ("vmlinuz".to_owned(), Source::Tree(boot.kernel.clone())),
        ("initrd.img".to_owned(), Source::Tree(boot.initrd.clone())),
    ];
    if xbootldr {
        [loader, kernel]
    } else {
        [loader.into_iter().chain(kernel).collect(), Vec::new()]
    }
}

/// A FAT partition to make.
pub struct Fat<'a> {
    /// The disk image file.
    pub image: &'a Path,
    /// First sector (512 bytes) of the partition.
    pub first_lba: u64,
    /// Size of the partition, bytes.
    pub size: u64,
    /// FAT volume id (8 hex digits).
    pub volume_id: String,
    /// Volume label (at most 11 characters).
    pub label: &'a str,
    /// `source_date_epoch`.
    pub epoch: i64,
}

/// Makes a FAT32 file system holding `files` and copies it into its partition (see the
/// module docs).
pub fn write(
    store: &Store,
    tree: &Tree,
    files: &[(String, Source)],
    fat: &Fat<'_>,
    tools: (&Path, &Path),
    scratch: &Path,
    log: &mut Vec<u8>,
) -> Result<(), BuildError> {
    let (mkfs, mcopy) = tools;
    let directory = tempfile::Builder::new()
        .prefix("fat-")
        .tempdir_in(scratch)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", scratch.display())))?;
    let root = directory.path().join("files");
    let environment = |path: &Path, error: std::io::Error| {
        BuildError::Environment(format!("{}: {error}", path.display()))
    };
    let mut top: Vec<PathBuf> = Vec::new();
    for (name, source) in files {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| environment(parent, error))?;
        }
        match source {
            Source::Tree(from) => write_blob(store, tree, from, &path)?,
            Source::Text(text) => {
                std::fs::write(&path, text).map_err(|error| environment(&path, error))?
            }
        }
        if let Some(first) = name.split('/').next() {
            let first = root.join(first);
            if !top.contains(&first) {
                top.push(first);
            }
        }
    }
    top.sort();
    // Every mtime is the epoch, directories last (writing into one changes its mtime).
    let time = rustix::fs::Timespec {
        tv_sec: fat.epoch,
        tv_nsec: 0,
    };
    let stamps = rustix::fs::Timestamps {
        last_access: time,
        last_modification: time,
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path)
                .map_err(|error| environment(&path, error))?
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
    let image = directory.path().join("partition.fat");
    let file = std::fs::File::create(&image).map_err(|error| environment(&image, error))?;
    file.set_len(fat.size)
        .map_err(|error| environment(&image, error))?;
    drop(file);
    run(
        Command::new(mkfs)
            .env_clear()
            .args([
                "-F",
                "32",
                "--invariant",
                "-i",
                &fat.volume_id,
                "-n",
                fat.label,
            ])
            .arg(&image),
        "mkfs.vfat",
        log,
    )?;
    if !top.is_empty() {
        run(
            Command::new(mcopy)
                .env_clear()
                .env("MTOOLS_SKIP_CHECK", "1")
                .args(["-s", "-m", "-i"])
                .arg(&image)
                .args(&top)
                .arg("::/"),
            "mcopy",
            log,
        )?;
    }
    copy_at(&image, fat.image, fat.first_lba * 512)
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
