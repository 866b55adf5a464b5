//! The `disk_raw` builder: plans the partition table, writes it, then each partition in
//! place into one sparse file — the ESP (and XBOOTLDR) by [`super::esp`], swap headers
//! by [`super::swap`], ext4 file systems by [`super::ext4`] — and imports the file.
//!
//! Every id on the disk (disk and partition GUIDs, file-system UUIDs, the FAT volume
//! ids) is derived from the derivation's name and the root tree's digest.

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::Value;
use imgbuild_store::{Digest, EntryKind, OutputObject, OutputRecord, Tree};

use super::options::{self, Declared, MIB};
use super::{esp, ext4, gpt, swap, tool};

/// The largest file ext4 holds with 4 KiB blocks.
const EXT4_LARGEST_FILE: u64 = 16 << 40;

/// What `size: "auto"` gives for `tree`'s ext4: the file contents in 4 KiB blocks, an
/// inode and a directory entry's share per entry, the journal, then 20% and 64 MiB of
/// headroom, rounded up to whole MiB.
pub fn auto_size(tree: &Tree) -> u64 {
    let mut data = 0u64;
    let mut entries = 0u64;
    for (_, entry) in tree.walk() {
        entries += 1;
        if let EntryKind::File { size, .. } = entry.kind {
            data += size.div_ceil(4096) * 4096;
        }
    }
    let metadata = entries * (256 + 64) * 2 + 64 * MIB;
    let file_system = (data + metadata) / 5 * 6 + 64 * MIB;
    file_system.div_ceil(MIB) * MIB
}

/// Refuses a tree holding a file larger than a `capacity`-byte file system (or ext4)
/// can hold, naming the file.
fn check_largest(tree: &Tree, what: &str, capacity: u64) -> Result<(), BuildError> {
    let largest = tree
        .walk()
        .filter_map(|(path, entry)| match entry.kind {
            EntryKind::File { size, .. } => Some((size, path)),
            _ => None,
        })
        .max_by_key(|(size, _)| *size);
    let Some((size, path)) = largest else {
        return Ok(());
    };
    if size > EXT4_LARGEST_FILE {
        return Err(BuildError::Failed(format!(
            "/{path} in {what} is {size} bytes, more than ext4 allows in one file (16 TiB)"
        )));
    }
    if size > capacity {
        return Err(BuildError::Failed(format!(
            "/{path} in {what} is {} MiB, larger than its {} MiB file system: give a larger `size` (or \"auto\")",
            size.div_ceil(MIB),
            capacity / MIB
        )));
    }
    Ok(())
}

fn tree_input(context: &BuildContext<'_>, index: u32) -> Result<(Digest, Tree), BuildError> {
    let input = context.input(index)?;
    let OutputObject::Tree { tree: digest } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "{} is a file; a disk partition needs a tree",
            input.described()
        )));
    };
    Ok((digest, context.store.load_tree(&digest)?))
}

/// A partition being written: its request and, once placed, its GUID and sectors.
struct Part {
    declared: Option<Declared>,
    contents: Option<(Digest, Tree)>,
    partition: gpt::Partition,
}

pub(crate) fn build_raw(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let (image, secret) = assemble(context)?;
    let info = context.store.import_file(image.path(), secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}

/// Writes the raw disk image the derivation's arguments describe (`root`, `size`,
/// `boot`, `partitions`, `kernel_cmdline`, `source_date_epoch`) into a scratch file;
/// returns it and whether it holds a secret. `disk_raw` imports it; a single other
/// format converts it without a round trip through the store.
pub(crate) fn assemble(
    context: &mut BuildContext<'_>,
) -> Result<(tempfile::NamedTempFile, bool), BuildError> {
    let args = context.derivation.args.clone();
    let Some(Value::Input(root_index)) = args.get("root") else {
        return Err(BuildError::Malformed(
            "disk image without a root".to_owned(),
        ));
    };
    let (digest, tree) = tree_input(context, *root_index)?;
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let size_text = args.get("size").and_then(Value::as_str).unwrap_or("auto");
    let fixed = options::parse_size(size_text).map_err(BuildError::Malformed)?;
    let declared = options::declared(args.get("partitions")).map_err(BuildError::Malformed)?;
    let boot = match args.get("boot").and_then(Value::as_str) {
        Some("none") => None,
        _ => Some(esp::find(&tree)?),
    };
    let mke2fs = tool(context, "mke2fs", "e2fsprogs (1.47.1 or later)")?.to_path_buf();
    let fat_tools = match boot {
        Some(_) => Some((
            tool(context, "mkfs.vfat", "dosfstools")?.to_path_buf(),
            tool(context, "mcopy", "mtools")?.to_path_buf(),
        )),
        None => None,
    };
    let needed_root = auto_size(&tree);
    let esp_size = boot.as_ref().map(|boot| esp::size(boot.bytes)).unwrap_or(0);
    let declared_total: u64 = declared.iter().map(|part| part.size + MIB).sum();
    let needed = needed_root + esp_size + declared_total + 2 * MIB;
    let disk_size = if fixed == 0 { needed } else { fixed };

    let mut seed = context.derivation.name.as_bytes().to_vec();
    seed.extend_from_slice(digest.as_bytes());
    let mut requests = Vec::new();
    let mut declared_parts = Vec::new();
    if boot.is_some() {
        requests.push(gpt::PartitionRequest {
            name: "esp".to_owned(),
            type_guid: gpt::ESP,
            size: Some(esp_size),
            start: None,
        });
        declared_parts.push(None);
    }
    for part in &declared {
        requests.push(gpt::PartitionRequest {
            name: part.name.clone(),
            type_guid: options::type_guid(&part.kind)
                .ok_or_else(|| BuildError::Malformed(format!("partition type `{}`", part.kind)))?,
            size: Some(part.size),
            start: (part.start != 0).then_some(part.start),
        });
        declared_parts.push(Some(part.clone()));
    }
    requests.push(gpt::PartitionRequest {
        name: "root".to_owned(),
        type_guid: gpt::LINUX_ROOT_X86_64,
        size: None,
        start: None,
    });
    declared_parts.push(None);
    let spans = gpt::plan(disk_size, &requests, MIB).map_err(|error| {
        BuildError::Failed(format!(
            "disk::image: {error} (this disk needs about {} MiB with headroom: `size: \"auto\"` gives that)",
            needed / MIB
        ))
    })?;
    let mut parts = Vec::new();
    for ((request, (first, last)), declared) in requests.iter().zip(&spans).zip(declared_parts) {
        let contents = match declared.as_ref().and_then(|part| part.contents) {
            Some(index) => Some(tree_input(context, index)?),
            None => None,
        };
        parts.push(Part {
            declared,
            contents,
            partition: gpt::Partition {
                name: request.name.clone(),
                type_guid: request.type_guid,
                unique_guid: gpt::derive_guid(&seed, &format!("{} partition", request.name)),
                first_lba: *first,
                last_lba: *last,
                attributes: 0,
            },
        });
    }
    let root = parts
        .last()
        .map(|part| part.partition.clone())
        .ok_or_else(|| BuildError::Malformed("no root partition".to_owned()))?;
    let bytes_of = |partition: &gpt::Partition| {
        (partition.last_lba - partition.first_lba + 1) * 512 / 4096 * 4096
    };
    check_largest(&tree, "the root tree", bytes_of(&root))?;
    for part in &parts {
        if let Some((_, contents)) = &part.contents {
            let what = format!("partition `{}`'s contents", part.partition.name);
            check_largest(contents, &what, bytes_of(&part.partition))?;
        }
    }

    let scratch = context.store.scratch_directory()?;
    let image = tempfile::Builder::new()
        .prefix("disk-")
        .suffix(".raw")
        .tempfile_in(&scratch)
        .map_err(|error| {
            BuildError::Environment(format!(
                "cannot create a file in {}: {error}",
                scratch.display()
            ))
        })?;
    let environment = |error: std::io::Error| {
        BuildError::Environment(format!("{}: {error}", image.path().display()))
    };
    image.as_file().set_len(disk_size).map_err(environment)?;
    let layout = gpt::Layout {
        disk_guid: gpt::derive_guid(&seed, "disk"),
        sector_size: 512,
        disk_size,
        partitions: parts.iter().map(|part| part.partition.clone()).collect(),
    };
    gpt::write_table(
        &mut image.as_file().try_clone().map_err(environment)?,
        &layout,
    )
    .map_err(|error| BuildError::Failed(format!("disk::image: {error}")))?;

    let mut log = Vec::new();
    let xbootldr = declared.iter().any(|part| part.kind == "xbootldr");
    let boot_files = boot.as_ref().map(|boot| {
        let console = args
            .get("kernel_cmdline")
            .and_then(Value::as_str)
            .unwrap_or("console=tty0 console=ttyS0,115200");
        let options = format!(
            "root=PARTUUID={} rw {console}",
            gpt::guid_to_text(&root.unique_guid)
        );
        esp::files(boot, options.trim_end(), xbootldr)
    });
    let mut written = Ok(());
    for (number, part) in (1..).zip(&parts) {
        let partition = &part.partition;
        let offset = partition.first_lba * 512;
        let size = (partition.last_lba - partition.first_lba + 1) * 512;
        let kind = part.declared.as_ref().map(|part| part.kind.as_str());
        let purpose = format!("{} file system", partition.name);
        let result = match (kind, &boot_files, &fat_tools) {
            (None, Some(files), Some((mkfs, mcopy))) if partition.type_guid == gpt::ESP => fat(
                context,
                &tree,
                &files[0],
                partition,
                "ESP",
                &seed,
                epoch,
                (mkfs, mcopy),
                &scratch,
                image.path(),
                &mut log,
            ),
            (Some("xbootldr"), Some(files), Some((mkfs, mcopy))) => {
                let bytes: u64 = boot.as_ref().map(|boot| boot.bytes).unwrap_or(0);
                if bytes + 4 * MIB > size {
                    Err(BuildError::Failed(format!(
                        "partition `{}` ({} MiB) cannot hold the kernel and initramfs ({} MiB): give it a larger size",
                        partition.name, size / MIB, bytes.div_ceil(MIB)
                    )))
                } else {
                    fat(
                        context,
                        &tree,
                        &files[1],
                        partition,
                        "XBOOTLDR",
                        &seed,
                        epoch,
                        (mkfs, mcopy),
                        &scratch,
                        image.path(),
                        &mut log,
                    )
                }
            }
            (Some("swap"), _, _) => swap::write(
                image.path(),
                offset,
                size,
                gpt::derive_guid(&seed, &purpose),
                &partition.name,
            ),
            _ => ext4::write(
                context.store,
                &mke2fs,
                &scratch,
                image.path(),
                &ext4::Ext4 {
                    tree: match kind {
                        None => Some(digest),
                        Some(_) => part.contents.as_ref().map(|(digest, _)| *digest),
                    },
                    offset,
                    size: size / 4096 * 4096,
                    uuid: super::derive_uuid(
                        &seed,
                        if kind.is_none() {
                            "root file system"
                        } else {
                            &purpose
                        },
                    ),
                    label: partition.name.clone(),
                    source_date_epoch: epoch,
                },
                &mut log,
            ),
        };
        if let Err(error) = result {
            written = Err(error);
            break;
        }
        context.log_line(format!(
            "partition {number} `{}`: {} MiB at {} MiB",
            partition.name,
            size / MIB,
            offset / MIB
        ));
    }
    context.log.extend_from_slice(&log);
    written.map_err(|error| match error {
        BuildError::Failed(message) if fixed != 0 => BuildError::Failed(format!(
            "{message} (this disk needs about {} MiB with headroom: `size: \"auto\"` gives that)",
            needed / MIB
        )),
        other => other,
    })?;
    context.log_line(format!(
        "disk {} MiB, {} partitions",
        disk_size / MIB,
        parts.len()
    ));
    let secret = context.derivation.secret || context.input(*root_index)?.record.secret;
    Ok((image, secret))
}

/// Writes one FAT boot partition with `files`.
#[allow(clippy::too_many_arguments)]
fn fat(
    context: &BuildContext<'_>,
    tree: &Tree,
    files: &[(String, esp::Source)],
    partition: &gpt::Partition,
    label: &str,
    seed: &[u8],
    epoch: i64,
    tools: (&std::path::Path, &std::path::Path),
    scratch: &std::path::Path,
    image: &std::path::Path,
    log: &mut Vec<u8>,
) -> Result<(), BuildError> {
    let volume = gpt::derive_guid(seed, &format!("{} volume id", partition.name));
    esp::write(
        context.store,
        tree,
        files,
        &esp::Fat {
            image,
            first_lba: partition.first_lba,
            size: (partition.last_lba - partition.first_lba + 1) * 512,
            volume_id: hex::encode(&volume[..4]),
            label,
            epoch,
        },
        tools,
        scratch,
        log,
    )
}
