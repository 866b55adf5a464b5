//! The formats a raw disk image is converted to, each its own derivation sharing the raw
//! one: qcow2 and vmdk (streamOptimized) by `qemu-img convert`, vhd (fixed) written here
//! ([`vhd_footer`]: the raw bytes and a 512-byte footer).
//!
//! What qemu-img would take from randomness is fixed afterwards: the vmdk descriptor's
//! `CID` is derived from the raw image's digest, and its extent names the file
//! `NAME.vmdk` after the derivation. qcow2 has nothing random. The vhd footer's
//! timestamp is `source_date_epoch` and its UUID is derived from the raw image.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::Value;
use imgbuild_store::{BlobInfo, Digest, OutputObject, OutputRecord};

/// A qcow2 image converted from a raw one.
pub const QCOW2_KIND: &str = "disk_qcow2";
/// A streamOptimized vmdk converted from a raw one.
pub const VMDK_KIND: &str = "disk_vmdk";
/// A fixed vhd made from a raw one.
pub const VHD_KIND: &str = "disk_vhd";

/// Seconds from the Unix epoch to 2000-01-01 00:00:00 UTC, where VHD time starts.
const VHD_EPOCH: i64 = 946_684_800;

/// The raw image to convert: a scratch directory, the raw bytes in it as `disk.raw`,
/// and their digest (which derives the vmdk CID and the vhd UUID).
struct Work {
    /// `None` until [`Work::digest`] hashes a raw image assembled here.
    raw_digest: Option<Digest>,
    directory: tempfile::TempDir,
    raw: PathBuf,
    secret: bool,
}

/// The raw image: copied out of the store when it is an input (`formats: [...]`), or
/// assembled here when this format is the only one (`format: "qcow2"`): the same bytes
/// without importing them into the store and copying them back out.
fn prepare(context: &mut BuildContext<'_>) -> Result<Work, BuildError> {
    let scratch = context.store.scratch_directory()?;
    let directory = tempfile::Builder::new()
        .prefix("disk-")
        .tempdir_in(&scratch)
        .map_err(|error| {
            BuildError::Environment(format!(
                "cannot create a directory in {}: {error}",
                scratch.display()
            ))
        })?;
    let raw = directory.path().join("disk.raw");
    let Some(Value::Input(index)) = context.derivation.args.get("raw") else {
        let (image, secret) = super::assemble::assemble(context)?;
        image
            .persist(&raw)
            .map_err(|error| BuildError::Environment(format!("{}: {error}", raw.display())))?;
        return Ok(Work {
            raw_digest: None,
            directory,
            raw,
            secret,
        });
    };
    let input = context.input(*index)?.clone();
    let OutputObject::File { blob, .. } = input.record.object else {
        return Err(BuildError::Malformed("the raw image is a tree".to_owned()));
    };
    let mut file = std::fs::File::create(&raw)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", raw.display())))?;
    context.store.copy_blob_to_file(&blob, &mut file)?;
    Ok(Work {
        raw_digest: Some(blob),
        directory,
        raw,
        secret: context.derivation.secret || input.record.secret,
    })
}

impl Work {
    /// The raw image's digest (hashed here when it was assembled here: qcow2 never needs
    /// it).
    fn digest(&mut self) -> Result<Digest, BuildError> {
        if let Some(digest) = self.raw_digest {
            return Ok(digest);
        }
        let digest = imgbuild_store::hash_file(&self.raw)?.digest;
        self.raw_digest = Some(digest);
        Ok(digest)
    }
}

fn finish(
    context: &mut BuildContext<'_>,
    path: &Path,
    secret: bool,
) -> Result<OutputRecord, BuildError> {
    let info: BlobInfo = context.store.import_file(path, secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}

fn qemu_img(
    context: &mut BuildContext<'_>,
    arguments: &[&str],
    from: &Path,
    to: &Path,
) -> Result<(), BuildError> {
    let program = super::tool(context, "qemu-img", "qemu-utils")?.to_path_buf();
    let output = Command::new(&program)
        .env_clear()
        .args(["convert", "-q", "-f", "raw"])
        .args(arguments)
        .arg(from)
        .arg(to)
        .output()
        .map_err(|error| {
            BuildError::Environment(format!("cannot run {}: {error}", program.display()))
        })?;
    context.log.extend_from_slice(&output.stderr);
    if output.status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed(format!(
            "qemu-img convert failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

pub(crate) fn build_qcow2(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let compress = context
        .derivation
        .args
        .get("compress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let work = prepare(context)?;
    let qcow2 = work.directory.path().join("disk.qcow2");
    let mut arguments = vec!["-O", "qcow2"];
    if compress {
        arguments.push("-c");
    }
    qemu_img(context, &arguments, &work.raw, &qcow2)?;
    finish(context, &qcow2, work.secret)
}

pub(crate) fn build_vmdk(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let mut work = prepare(context)?;
    let name = context.derivation.name.clone();
    // The descriptor's extent line names the file: the name the result will have.
    let vmdk = work.directory.path().join(format!("{name}.vmdk"));
    qemu_img(
        context,
        &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        &work.raw,
        &vmdk,
    )?;
    let cid = &super::derive_uuid(work.digest()?.as_bytes(), "vmdk cid")[..8];
    fix_cid(&vmdk, cid)?;
    finish(context, &vmdk, work.secret)
}

/// Replaces the value of `CID=` in a vmdk's embedded descriptor with `cid` (8 hex
/// digits). qemu-img writes its random CID without leading zeros (`CID=%x`), so the
/// value has 1 to 8 digits: the descriptor text is rewritten within its NUL-padded
/// sectors, so the result does not depend on how long the random value was.
fn fix_cid(path: &Path, cid: &str) -> Result<(), BuildError> {
    let failed =
        |error: std::io::Error| BuildError::Environment(format!("{}: {error}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(failed)?;
    let mut header = [0u8; 512];
    file.read_exact(&mut header).map_err(failed)?;
    let field = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let (offset, sectors) = (field(28), field(36));
    if &header[..4] != b"KDMV" || offset == 0 || sectors == 0 || sectors > 64 {
        return Err(BuildError::Failed(format!(
            "{}: qemu-img wrote no embedded vmdk descriptor",
            path.display()
        )));
    }
    let mut area = vec![0u8; (sectors * 512) as usize];
    file.seek(SeekFrom::Start(offset * 512)).map_err(failed)?;
    file.read_exact(&mut area).map_err(failed)?;
    let fixed = with_cid(&area, cid).ok_or_else(|| {
        BuildError::Failed(format!(
            "{}: the vmdk descriptor has no CID line",
            path.display()
        ))
    })?;
    file.seek(SeekFrom::Start(offset * 512)).map_err(failed)?;
    file.write_all(&fixed).map_err(failed)
}

/// The descriptor `area` (text, then NUL padding) with the value of its `CID=` line
/// replaced by `cid`, the same length as `area`; `None` without a CID line of 1 to 8
/// hex digits or without room.
fn with_cid(area: &[u8], cid: &str) -> Option<Vec<u8>> {
    let text_end = area
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(area.len());
    let text = &area[..text_end];
    let value_start = text.windows(5).position(|window| window == b"\nCID=")? + 5;
    let value_len = text[value_start..].iter().position(|byte| *byte == b'\n')?;
    let value = &text[value_start..value_start + value_len];
    if !(1..=8).contains(&value.len()) || !value.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut fixed = Vec::with_capacity(area.len());
    fixed.extend_from_slice(&text[..value_start]);
    fixed.extend_from_slice(cid.as_bytes());
    fixed.extend_from_slice(&text[value_start + value_len..]);
    if fixed.len() > area.len() {
        return None;
    }
    fixed.resize(area.len(), 0);
    Some(fixed)
}

pub(crate) fn build_vhd(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let epoch = context
        .derivation
        .args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let mut work = prepare(context)?;
    let size = std::fs::metadata(&work.raw)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", work.raw.display())))?
        .len();
    let uuid = super::gpt::derive_guid(work.digest()?.as_bytes(), "vhd uuid");
    let footer = vhd_footer(size, epoch, uuid);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&work.raw)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", work.raw.display())))?;
    file.write_all(&footer)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", work.raw.display())))?;
    drop(file);
    finish(context, &work.raw, work.secret)
}

/// The footer of a fixed VHD of `size` bytes (big-endian fields, Microsoft's "Virtual
/// Hard Disk Image Format Specification"). The geometry is the largest CHS (65535/16/255)
/// so that readers take the size from `current size` rather than from the geometry
/// (what Hyper-V does, and qemu for such images); `size` is a whole number of MiB.
pub fn vhd_footer(size: u64, epoch: i64, uuid: [u8; 16]) -> [u8; 512] {
    let mut footer = [0u8; 512];
    footer[0..8].copy_from_slice(b"conectix");
    footer[8..12].copy_from_slice(&2u32.to_be_bytes());
    footer[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    footer[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
    let timestamp = u32::try_from((epoch - VHD_EPOCH).max(0)).unwrap_or(u32::MAX);
    footer[24..28].copy_from_slice(&timestamp.to_be_bytes());
    footer[28..32].copy_from_slice(b"imgb");
    footer[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    footer[36..40].copy_from_slice(b"Wi2k");
    footer[40..48].copy_from_slice(&size.to_be_bytes());
    footer[48..56].copy_from_slice(&size.to_be_bytes());
    footer[56..58].copy_from_slice(&65535u16.to_be_bytes());
    footer[58] = 16;
    footer[59] = 255;
    footer[60..64].copy_from_slice(&2u32.to_be_bytes());
    footer[68..84].copy_from_slice(&uuid);
    let sum = footer
        .iter()
        .fold(0u32, |sum, byte| sum.wrapping_add(u32::from(*byte)));
    footer[64..68].copy_from_slice(&(!sum).to_be_bytes());
    footer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vhd_footer_checksum_is_the_complement_of_its_byte_sum() {
        let footer = vhd_footer(64 << 20, 1_700_000_000, [9; 16]);
        let stored = u32::from_be_bytes(footer[64..68].try_into().expect("4 bytes"));
        let mut zeroed = footer;
        zeroed[64..68].fill(0);
        let sum = zeroed.iter().map(|byte| u32::from(*byte)).sum::<u32>();
        assert_eq!(stored, !sum);
        assert_eq!(&footer[0..8], b"conectix");
        assert_eq!(
            u32::from_be_bytes(footer[24..28].try_into().expect("4 bytes")),
            1_700_000_000 - 946_684_800
        );
    }

    #[test]
    fn a_cid_of_any_length_gives_the_same_descriptor() {
        let area = |value: &str| {
            let mut area = format!(
                "# Disk DescriptorFile\nversion=1\nCID={value}\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n"
            )
            .into_bytes();
            area.resize(1024, 0);
            area
        };
        let long = with_cid(&area("8a3b4c5d"), "0123abcd").expect("a CID line");
        let short = with_cid(&area("3c5d"), "0123abcd").expect("a CID line");
        assert_eq!(long, short);
        assert_eq!(long.len(), 1024);
        assert!(String::from_utf8_lossy(&long).contains("\nCID=0123abcd\nparentCID=ffffffff\n"));
        assert_eq!(with_cid(&area("xyz"), "0123abcd"), None);
        let mut none = b"version=1\n".to_vec();
        none.resize(512, 0);
        assert_eq!(with_cid(&none, "0123abcd"), None);
    }
}
