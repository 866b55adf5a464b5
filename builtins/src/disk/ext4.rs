//! The root file system: ext4 written by `mke2fs -d -` (e2fsprogs ≥ 1.47.1) from the
//! tree's tar stream, rendered from the store — no root, no loop device, no mount.
//!
//! Everything that could vary between two builds is fixed here:
//! - the file-system UUID and the directory hash seed come from the derivation
//!   ([`super::derive_uuid`]), never from `/dev/urandom`;
//! - `SOURCE_DATE_EPOCH` sets mke2fs's own times and clamps the copied ones;
//! - the feature set comes from a configuration written here (`MKE2FS_CONFIG`), not the
//!   host's `/etc/mke2fs.conf`: Debian 12's ext4 defaults, spelled out;
//! - `nodiscard`, and the file system is written at an offset into the disk image file
//!   (`-E offset=`), so the partition is never copied.
//!
//! Ownership, modes (setuid/setgid), xattrs (`security.capability`), device nodes and
//! hard links travel in the tar stream (pax headers), which mke2fs reads through
//! libarchive.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use imgbuild_engine::BuildError;
use imgbuild_store::{Digest, Store};

/// mke2fs's configuration: Debian 12's defaults for ext4, fixed here so the host's
/// `/etc/mke2fs.conf` cannot change the image.
const MKE2FS_CONFIG: &str = "[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384

[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
";

/// The oldest e2fsprogs whose `mke2fs -d` reads a tar stream.
pub const MINIMUM_VERSION: (u32, u32, u32) = (1, 47, 1);

/// What to write.
#[derive(Debug, Clone)]
pub struct Ext4 {
    /// The tree to put in it (`None`: an empty file system).
    pub tree: Option<Digest>,
    /// Byte offset of the file system in the image file.
    pub offset: u64,
    /// Size of the file system, bytes (a multiple of 4096).
    pub size: u64,
    /// File-system UUID (text form), also the hash seed.
    pub uuid: String,
    /// Volume label.
    pub label: String,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: i64,
}

/// The version `mke2fs -V` reports.
pub fn version(mke2fs: &Path) -> Result<(u32, u32, u32), BuildError> {
    let output = Command::new(mke2fs)
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| {
            BuildError::Environment(format!("cannot run {}: {error}", mke2fs.display()))
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let found = text
        .split_whitespace()
        .skip_while(|word| *word != "mke2fs")
        .nth(1)
        .and_then(|version| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
            Some((
                parts.next()??,
                parts.next()??,
                parts.next().flatten().unwrap_or(0),
            ))
        });
    found.ok_or_else(|| {
        BuildError::Environment(format!(
            "cannot read the version of {}: {text}",
            mke2fs.display()
        ))
    })
}

/// Writes the file system into `image` (which exists and is large enough). `scratch`
/// holds the configuration file while mke2fs runs. mke2fs's output goes to `log`.
pub fn write(
    store: &Store,
    mke2fs: &Path,
    scratch: &Path,
    image: &Path,
    ext4: &Ext4,
    log: &mut Vec<u8>,
) -> Result<(), BuildError> {
    let found = version(mke2fs)?;
    if found < MINIMUM_VERSION {
        return Err(BuildError::Environment(format!(
            "{} is e2fsprogs {}.{}.{}; reading a tree as a tar stream needs 1.47.1 or later \
             (Debian 12: `apt-get install -t bookworm-backports e2fsprogs`; scripts/setup.sh does it)",
            mke2fs.display(),
            found.0,
            found.1,
            found.2
        )));
    }
    let config = tempfile::Builder::new()
        .prefix("mke2fs-")
        .suffix(".conf")
        .tempfile_in(scratch)
        .map_err(|error| {
            BuildError::Environment(format!("cannot write in {}: {error}", scratch.display()))
        })?;
    std::fs::write(config.path(), MKE2FS_CONFIG).map_err(|error| {
        BuildError::Environment(format!("cannot write {}: {error}", config.path().display()))
    })?;
    let mut child = Command::new(mke2fs)
        .env_clear()
        .env("MKE2FS_CONFIG", config.path())
        .env("SOURCE_DATE_EPOCH", ext4.source_date_epoch.to_string())
        .env("E2FSPROGS_FAKE_TIME", ext4.source_date_epoch.to_string())
        .args([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0", "-L",
        ])
        .arg(&ext4.label)
        .arg("-U")
        .arg(&ext4.uuid)
        .arg("-E")
        .arg(format!(
            "hash_seed={},nodiscard,offset={},root_owner=0:0",
            ext4.uuid, ext4.offset
        ))
        .args(if ext4.tree.is_some() {
            &["-d", "-"][..]
        } else {
            &[][..]
        })
        .arg(image)
        .arg(format!("{}k", ext4.size / 1024))
        .stdin(if ext4.tree.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| {
            BuildError::Environment(format!("cannot run {}: {error}", mke2fs.display()))
        })?;
    let stdin = child.stdin.take();
    let streamed = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<(), BuildError> {
            let (Some(stdin), Some(tree)) = (stdin, &ext4.tree) else {
                return Ok(());
            };
            let mut stdin = std::io::BufWriter::with_capacity(1 << 20, stdin);
            let result = store.write_tar(tree, &mut stdin);
            // mke2fs stops reading when it fails (a full file system): its own error
            // says why, so a broken pipe here is not the story.
            match result {
                Ok(()) => stdin
                    .flush()
                    .map_err(|error| BuildError::Failed(format!("mke2fs: {error}"))),
                Err(error) => Err(BuildError::from(error)),
            }
        });
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let (written, output) = streamed;
    let output = output.map_err(|error| BuildError::Environment(format!("mke2fs: {error}")))?;
    log.extend_from_slice(&output.stdout);
    log.extend_from_slice(&output.stderr);
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        let full = message.contains("Could not allocate block")
            || message.contains("No space left")
            || message.contains("Could not allocate inode");
        return Err(BuildError::Failed(if full {
            format!(
                "the root tree does not fit in a {} MiB file system: give a larger `size` (or \"auto\"); mke2fs: {}",
                ext4.size >> 20,
                message.trim()
            )
        } else {
            format!("mke2fs failed ({}): {}", output.status, message.trim())
        }));
    }
    match written {
        Ok(result) => result,
        Err(_) => Err(BuildError::Failed(
            "streaming the tree to mke2fs panicked".to_owned(),
        )),
    }
}
