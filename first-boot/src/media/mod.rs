//! Finding contextualization media and reading them into an [`Instance`].
//!
//! [`find`] discovers media without blkid or mount: it walks `/sys/class/block` (a
//! parameter, for tests), and for every CD-ROM (`sr*`) and every small disk or partition
//! (`vd*`, `sd*`, `xvd*`, `hd*`, `nvme*`; at most [`MAX_DISK_SIZE`]) reads the ISO 9660
//! volume identifier (the primary volume descriptor's 32 bytes at 32768 + 40, trimmed)
//! or, failing that, a FAT boot-sector label (offset 0x47 on FAT32, 0x2B on FAT12/16).
//! Labels, matched exactly as cloud-init and one-context do:
//!
//! | label | medium |
//! |---|---|
//! | `cidata`, `CIDATA` | NoCloud ([`nocloud`]) |
//! | `config-2`, `CONFIG-2` | OpenStack config drive ([`config_drive`]) |
//! | `CONTEXT`; `CDROM` only when it holds `context.sh` | OpenNebula ([`context`]) |
//!
//! **Precedence** when several media are attached: NoCloud, then config-2, then
//! OpenNebula — cloud-init's own default `datasource_list` order, so a VM moved from
//! cloud-init to this agent picks the same medium. It also matches intent: a NoCloud
//! seed is attached by whoever builds this VM, while a config drive is often added by
//! the platform (Nova, Proxmox) on its own; OpenNebula comes last because it has no
//! instance identity of its own and `CDROM` is a generic label. Within a kind, ISO 9660
//! comes before vfat, then device names sort by name (`sr0` before `sr1`). [`find`]
//! returns media in that order: the caller reads the first and reports the others as
//! ignored.
//!
//! vfat media are detected but not read: [`read`] returns
//! [`MediaError::VfatUnsupported`] for them.
//!
//! Every reader is all-or-nothing: a malformed file gives an error naming the file
//! (and the line, for YAML, JSON and `context.sh`), and the agent then applies nothing.
//! What a reader understands but does not apply becomes a warning in
//! [`Instance::warnings`].

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use imgbuild_iso::read::{EntryKind, IsoReader, Limits, ReadError};

use crate::model::{Instance, Source};

pub mod cloud_config;
pub mod config_drive;
pub mod context;
pub mod network_config;
pub mod nocloud;
pub mod user_data;
mod values;

/// Disks and partitions larger than this are not media (Nova's vfat config drive is
/// 64 MiB).
pub const MAX_DISK_SIZE: u64 = 1 << 30;
/// The largest file read from a medium.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Why a medium cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The device could not be opened or read.
    #[error("{device}: {source}")]
    Device {
        /// The device.
        device: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The ISO 9660 file system cannot be read.
    #[error("{device}: {source}")]
    Iso {
        /// The device.
        device: PathBuf,
        /// The error.
        source: ReadError,
    },
    /// A file the medium must have is missing.
    #[error("the medium has no `{file}`")]
    Missing {
        /// The file.
        file: String,
    },
    /// A file cannot be parsed (YAML, JSON, `context.sh`, MIME).
    #[error("{file}{}: {message}", line.map(|line| format!(", line {line}")).unwrap_or_default())]
    Syntax {
        /// The file.
        file: String,
        /// The line, when known (1-based).
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A file parses but says something impossible.
    #[error("{file}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, naming the key or entry.
        reason: String,
    },
    /// A vfat medium (cloud-init accepts them; this agent does not read FAT).
    #[error("{device}: label `{label}` on vfat: vfat NoCloud/config-2 media are not supported (use an ISO 9660 medium)")]
    VfatUnsupported {
        /// The device.
        device: PathBuf,
        /// Its label.
        label: String,
    },
}

/// The file system a medium was found on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Filesystem {
    /// ISO 9660.
    Iso9660,
    /// FAT (detected only).
    Vfat,
}

/// A medium [`find`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The device (`/dev/sr0`).
    pub device: PathBuf,
    /// What kind of medium its label says it is.
    pub kind: Source,
    /// The label as read.
    pub label: String,
    /// Its file system.
    pub filesystem: Filesystem,
}

/// Precedence of a kind (lower first); see the module documentation.
fn rank(kind: Source) -> u8 {
    match kind {
        Source::NoCloud => 0,
        Source::ConfigDrive => 1,
        Source::OpenNebula => 2,
        Source::None => 3,
    }
}

/// The kind a label names.
fn kind_of(label: &str) -> Option<Source> {
    match label {
        "cidata" | "CIDATA" => Some(Source::NoCloud),
        "config-2" | "CONFIG-2" => Some(Source::ConfigDrive),
        "CONTEXT" => Some(Source::OpenNebula),
        _ => None,
    }
}

/// Block devices that may hold media: CD-ROMs and disks or their partitions.
fn candidate(name: &str) -> bool {
    ["sr", "vd", "sd", "xvd", "hd", "nvme"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Finds media among the block devices listed in `sys_block` (`/sys/class/block`),
/// opening them under `dev` (`/dev`), sorted by precedence. Devices that cannot be
/// read (an empty drive, no permission) are skipped.
pub fn find(sys_block: &Path, dev: &Path) -> Vec<Found> {
    let Ok(listing) = fs::read_dir(sys_block) else {
        return Vec::new();
    };
    let mut names: Vec<String> = listing
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| candidate(name))
        .collect();
    names.sort();
    let mut found = Vec::new();
    for name in names {
        if !name.starts_with("sr") {
            let sectors = fs::read_to_string(sys_block.join(&name).join("size"))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok());
            match sectors {
                Some(sectors) if sectors > 0 && sectors.saturating_mul(512) <= MAX_DISK_SIZE => {}
                _ => continue,
            }
        }
        let device = dev.join(&name);
        if let Some(medium) = probe(&device) {
            found.push(medium);
        }
    }
    found.sort_by(|a, b| {
        (rank(a.kind), a.filesystem, &a.device).cmp(&(rank(b.kind), b.filesystem, &b.device))
    });
    found
}

/// Reads the label of one device and decides what medium it is.
fn probe(device: &Path) -> Option<Found> {
    let mut file = fs::File::open(device).ok()?;
    if let Ok(Some(label)) = imgbuild_iso::read::volume_id(&mut file) {
        let kind = match kind_of(&label) {
            Some(kind) => kind,
            None if label == "CDROM" => {
                let mut reader = IsoReader::open(&mut file, limits()).ok()?;
                match reader.entry("context.sh").ok()? {
                    Some(entry) if entry.kind == EntryKind::File => Source::OpenNebula,
                    _ => return None,
                }
            }
            None => return None,
        };
        return Some(Found {
            device: device.to_owned(),
            kind,
            label,
            filesystem: Filesystem::Iso9660,
        });
    }
    let label = fat_label(&mut file)?;
    let kind = kind_of(&label).filter(|kind| *kind != Source::OpenNebula)?;
    Some(Found {
        device: device.to_owned(),
        kind,
        label,
        filesystem: Filesystem::Vfat,
    })
}

/// The label of a FAT boot sector, when there is one.
fn fat_label(file: &mut fs::File) -> Option<String> {
    let mut sector = [0u8; 512];
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_exact(&mut sector).ok()?;
    if sector[510..512] != [0x55, 0xAA] {
        return None;
    }
    let (signature, label, kind) = if &sector[82..87] == b"FAT32" {
        (sector[66], &sector[71..82], &sector[82..87])
    } else {
        (sector[38], &sector[43..54], &sector[54..59])
    };
    if signature != 0x29 || !kind.starts_with(b"FAT") {
        return None;
    }
    let label = String::from_utf8_lossy(label).trim_end().to_owned();
    (!label.is_empty()).then_some(label)
}

fn limits() -> Limits {
    Limits {
        max_file_size: MAX_FILE_SIZE,
        ..Limits::default()
    }
}

/// The files of a medium, by `/`-separated path from its root.
pub trait Medium {
    /// The file at `path`, or `None` when there is none.
    fn file(&mut self, path: &str) -> Result<Option<Vec<u8>>, MediaError>;
    /// The names in the directory at `path` (empty when there is none).
    fn names(&mut self, path: &str) -> Result<Vec<String>, MediaError>;
}

/// An ISO 9660 medium.
pub struct IsoMedium<R> {
    device: PathBuf,
    reader: IsoReader<R>,
}

impl<R: Read + Seek> IsoMedium<R> {
    /// Opens the ISO 9660 file system of `device` (named in errors).
    pub fn open(device: &Path, source: R) -> Result<IsoMedium<R>, MediaError> {
        let reader = IsoReader::open(source, limits()).map_err(|source| MediaError::Iso {
            device: device.to_owned(),
            source,
        })?;
        Ok(IsoMedium {
            device: device.to_owned(),
            reader,
        })
    }
}

impl<R: Read + Seek> Medium for IsoMedium<R> {
    fn file(&mut self, path: &str) -> Result<Option<Vec<u8>>, MediaError> {
        match self.reader.read_file(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ReadError::NotFound(_)) => Ok(None),
            Err(source) => Err(MediaError::Iso {
                device: self.device.clone(),
                source,
            }),
        }
    }

    fn names(&mut self, path: &str) -> Result<Vec<String>, MediaError> {
        match self.reader.list(path) {
            Ok(entries) => Ok(entries.into_iter().map(|entry| entry.name).collect()),
            Err(ReadError::NotFound(_) | ReadError::NotADirectory(_)) => Ok(Vec::new()),
            Err(source) => Err(MediaError::Iso {
                device: self.device.clone(),
                source,
            }),
        }
    }
}

/// Files in memory, for tests and for media copied elsewhere.
impl Medium for BTreeMap<String, Vec<u8>> {
    fn file(&mut self, path: &str) -> Result<Option<Vec<u8>>, MediaError> {
        Ok(self.get(path.trim_start_matches('/')).cloned())
    }

    fn names(&mut self, path: &str) -> Result<Vec<String>, MediaError> {
        let prefix = match path.trim_matches('/') {
            "" => String::new(),
            directory => format!("{directory}/"),
        };
        let mut names: Vec<String> = self
            .keys()
            .filter_map(|key| key.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        Ok(names)
    }
}

/// Reads a medium [`find`] found.
pub fn read(found: &Found) -> Result<Instance, MediaError> {
    if found.filesystem == Filesystem::Vfat {
        return Err(MediaError::VfatUnsupported {
            device: found.device.clone(),
            label: found.label.clone(),
        });
    }
    let file = fs::File::open(&found.device).map_err(|source| MediaError::Device {
        device: found.device.clone(),
        source,
    })?;
    let mut medium = IsoMedium::open(&found.device, file)?;
    read_medium(found.kind, &mut medium)
}

/// Reads the files of a medium of `kind`.
pub fn read_medium(kind: Source, medium: &mut dyn Medium) -> Result<Instance, MediaError> {
    match kind {
        Source::NoCloud => nocloud::read(medium),
        Source::ConfigDrive => config_drive::read(medium),
        Source::OpenNebula => context::read(medium),
        Source::None => Ok(Instance::without_medium()),
    }
}

/// An empty instance of `source` with identity `instance_id`.
pub(crate) fn empty_instance(source: Source, instance_id: String) -> Instance {
    Instance {
        source,
        instance_id,
        ..Instance::without_medium()
    }
}
