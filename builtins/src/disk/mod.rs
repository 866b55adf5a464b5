//! Disk images: `disk::image(#{ root, size, format, ... })` turns a root tree from the
//! store into a partitioned disk image — without root, loop devices or mounts — with the
//! same bytes on every build.
//!
//! ```rhai
//! let disk = disk::image(#{
//!     root: rootfs,              // a tree (debian::rootfs, tree(), run(), ...)
//!     name: "web",
//!     size: "auto",              // or "2G", "1536M": the whole disk
//!     format: "qcow2",           // raw (default) or qcow2
//!     boot: "systemd-boot",      // the default: an ESP with the image's systemd-boot; or "none"
//!     source_date_epoch: 1700000000,
//! });
//! ```
//!
//! Work in progress (the disk-image issue): GPT ([`gpt`]) with an EFI system partition
//! holding the image's own systemd-boot, kernel and initramfs ([`esp`]) and a Linux root
//! partition, ext4 by `mke2fs -d -` ([`ext4`]), raw and qcow2. Still to come: extra
//! partitions, vmdk and vhd, several formats from one graph.
//!
//! Identities: the disk GUID, the partition GUID, the file-system UUID and its hash
//! seed are derived from the derivation's own arguments and its root tree's digest
//! ([`derive_uuid`]), so a changed tree gives new ids and an unchanged one the same.

pub mod esp;
pub mod ext4;
pub mod gpt;

use std::collections::BTreeMap;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};
use imgbuild_store::{EntryKind, OutputObject, OutputRecord, Tree};

/// The raw image's derivation kind.
pub const RAW_KIND: &str = "disk_raw";
/// A qcow2 image converted from a raw one.
pub const QCOW2_KIND: &str = "disk_qcow2";
const VERSION: u32 = 1;

const KEYS: &[&str] = &[
    "root",
    "name",
    "size",
    "format",
    "boot",
    "compress",
    "source_date_epoch",
];
const FORMATS: &[&str] = &["raw", "qcow2"];
const BOOTS: &[&str] = &["systemd-boot", "none"];

/// 1 MiB: partition alignment, and what sizes are rounded to.
const MIB: u64 = 1 << 20;

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let state = registration.state.clone();
    module.set_native_fn(
        "image",
        move |context: NativeCallContext,
              options: Map|
              -> Result<DerivationHandle, Box<EvalAltResult>> {
            image(&state, &context, options).map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("disk", module.into());
}

/// `"auto"` (0 here), or a size with a K/M/G/T suffix (powers of 1024), in bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    if text == "auto" {
        return Ok(0);
    }
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size like \"2G\" or \"auto\""))?;
    let scale: u64 = match unit {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" | "m" => 1 << 20,
        "G" | "g" => 1 << 30,
        "T" | "t" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{unit}` (use K, M, G or T)"
            ))
        }
    };
    number
        .checked_mul(scale)
        .filter(|bytes| *bytes >= 8 * MIB)
        .ok_or_else(|| format!("`{text}` is not a disk size between 8M and 16E"))
}

fn image(
    state: &SharedState,
    context: &NativeCallContext,
    options: Map,
) -> Result<DerivationHandle, BuiltinError> {
    let arguments = ArgMap::new("disk::image", options, KEYS)?;
    let root = arguments.required("root")?;
    let Some(root) = root.read_lock::<DerivationHandle>().map(|handle| *handle) else {
        return Err(arguments.type_error("root", "a tree derivation", root.type_name()));
    };
    let name = arguments
        .optional_string("name")?
        .unwrap_or_else(|| "disk".to_owned());
    crate::core::paths::check_name("disk::image", &name)?;
    let size_text = arguments
        .optional_string("size")?
        .unwrap_or_else(|| "auto".to_owned());
    parse_size(&size_text)
        .map_err(|message| BuiltinError::new(format!("disk::image: `size`: {message}")))?;
    let format = arguments
        .optional_string("format")?
        .unwrap_or_else(|| "raw".to_owned());
    if !FORMATS.contains(&format.as_str()) {
        let mut error = BuiltinError::new(format!("disk::image: unknown format `{format}`"));
        error = match imgbuild_evaluator::suggest(&format, FORMATS.iter().copied()) {
            Some(near) => error.with_help(format!(
                "did you mean `{near}`? (formats: {})",
                FORMATS.join(", ")
            )),
            None => error.with_help(format!("formats: {}", FORMATS.join(", "))),
        };
        return Err(error);
    }
    let boot = arguments
        .optional_string("boot")?
        .unwrap_or_else(|| "systemd-boot".to_owned());
    if !BOOTS.contains(&boot.as_str()) {
        return Err(BuiltinError::new(format!("disk::image: unknown boot `{boot}`"))
            .with_help("`systemd-boot` (an EFI system partition with the image's systemd-boot, the default) or `none`"));
    }
    let epoch = crate::media::common::epoch(&arguments)?;
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("root".to_owned(), inputs.reference(root.id));
    args.insert("size".to_owned(), Value::String(size_text));
    args.insert("boot".to_owned(), Value::String(boot));
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    let raw = state.add(
        context,
        DerivationSpec::derived(RAW_KIND, VERSION, name.clone(), args, inputs),
    );
    if format == "raw" {
        return Ok(raw);
    }
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("raw".to_owned(), inputs.reference(raw.id));
    args.insert(
        "compress".to_owned(),
        Value::Bool(arguments.optional_bool("compress")?.unwrap_or(false)),
    );
    Ok(state.add(
        context,
        DerivationSpec::derived(QCOW2_KIND, VERSION, name, args, inputs),
    ))
}

/// A UUID (text form, version 4 layout) derived from `seed` for `purpose`.
pub fn derive_uuid(seed: &[u8], purpose: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("imgbuild 2026-12 disk uuid v1");
    hasher.update(purpose.as_bytes());
    hasher.update(&[0]);
    hasher.update(seed);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What `size: "auto"` gives for `tree`: the file contents in 4 KiB blocks, an inode
/// and a directory entry's share per entry, the journal, 20% and 64 MiB of headroom,
/// and the partition table, rounded up to whole MiB.
fn auto_size(tree: &Tree) -> u64 {
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
    (file_system + 2 * MIB).div_ceil(MIB) * MIB
}

fn tool<'a>(
    context: &'a BuildContext<'_>,
    name: &str,
    package: &str,
) -> Result<&'a std::path::Path, BuildError> {
    context.config.tools.get(name).ok_or_else(|| {
        BuildError::Environment(format!(
            "`{name}` is not installed (Debian package {package})"
        ))
    })
}

pub(crate) fn build_raw(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let Some(Value::Input(index)) = args.get("root") else {
        return Err(BuildError::Malformed(
            "disk image without a root".to_owned(),
        ));
    };
    let input = context.input(*index)?.clone();
    let OutputObject::Tree { tree: digest } = input.record.object else {
        return Err(BuildError::Failed(format!(
            "{} is a file; a disk image needs a tree",
            input.described()
        )));
    };
    let epoch = args
        .get("source_date_epoch")
        .and_then(Value::as_int)
        .unwrap_or(0);
    let size_text = args.get("size").and_then(Value::as_str).unwrap_or("auto");
    let tree = context.store.load_tree(&digest)?;
    let needed = auto_size(&tree);
    let disk_size = match parse_size(size_text).map_err(BuildError::Malformed)? {
        0 => needed,
        fixed => fixed,
    };
    let mke2fs = tool(context, "mke2fs", "e2fsprogs (1.47.1 or later)")?.to_path_buf();
    let boot = match args.get("boot").and_then(Value::as_str) {
        Some("none") => None,
        _ => Some(esp::find(&tree)?),
    };
    let esp_size = boot.as_ref().map(esp::size).unwrap_or(0);
    let disk_size = if parse_size(size_text).map_err(BuildError::Malformed)? == 0 {
        disk_size + esp_size
    } else {
        disk_size
    };
    let mut seed = context.derivation.name.as_bytes().to_vec();
    seed.extend_from_slice(digest.as_bytes());
    let mut requests = Vec::new();
    if boot.is_some() {
        requests.push(gpt::PartitionRequest {
            name: "esp".to_owned(),
            type_guid: gpt::ESP,
            size: Some(esp_size),
        });
    }
    requests.push(gpt::PartitionRequest {
        name: "root".to_owned(),
        type_guid: gpt::LINUX_ROOT_X86_64,
        size: None,
    });
    let spans = gpt::plan(disk_size, &requests, MIB).map_err(|error| {
        BuildError::Failed(format!(
            "disk::image: {error} (the tree needs about {} MiB with headroom: `size: \"auto\"` gives that)",
            (needed + esp_size) / MIB
        ))
    })?;
    let partitions: Vec<gpt::Partition> = requests
        .iter()
        .zip(&spans)
        .map(|(request, (first, last))| gpt::Partition {
            name: request.name.clone(),
            type_guid: request.type_guid,
            unique_guid: gpt::derive_guid(&seed, &format!("{} partition", request.name)),
            first_lba: *first,
            last_lba: *last,
            attributes: 0,
        })
        .collect();
    let Some(root_partition) = partitions.last().cloned() else {
        return Err(BuildError::Malformed("no root partition".to_owned()));
    };
    let (first, last) = (root_partition.first_lba, root_partition.last_lba);
    let layout = gpt::Layout {
        disk_guid: gpt::derive_guid(&seed, "disk"),
        sector_size: 512,
        disk_size,
        partitions: partitions.clone(),
    };
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
    image.as_file().set_len(disk_size).map_err(|error| {
        BuildError::Environment(format!("cannot size {}: {error}", image.path().display()))
    })?;
    gpt::write_table(
        &mut image
            .as_file()
            .try_clone()
            .map_err(|error| BuildError::Environment(error.to_string()))?,
        &layout,
    )
    .map_err(|error| BuildError::Failed(format!("disk::image: {error}")))?;
    let partition_bytes = (last - first + 1) * 512 / 4096 * 4096;
    let ext4 = ext4::Ext4 {
        tree: digest,
        offset: first * 512,
        size: partition_bytes,
        uuid: derive_uuid(&seed, "root file system"),
        label: "root".to_owned(),
        source_date_epoch: epoch,
    };
    let mut log = Vec::new();
    if let (Some(boot), Some(esp_partition)) =
        (&boot, partitions.first().filter(|_| partitions.len() > 1))
    {
        let mkfs = tool(context, "mkfs.vfat", "dosfstools")?.to_path_buf();
        let mcopy = tool(context, "mcopy", "mtools")?.to_path_buf();
        let volume = gpt::derive_guid(&seed, "esp volume id");
        esp::write(
            context.store,
            &tree,
            boot,
            &esp::Esp {
                image: image.path(),
                first_lba: esp_partition.first_lba,
                size: (esp_partition.last_lba - esp_partition.first_lba + 1) * 512,
                volume_id: hex::encode(&volume[..4]),
                root: format!(
                    "PARTUUID={}",
                    gpt::guid_to_text(&root_partition.unique_guid)
                ),
                epoch,
            },
            (&mkfs, &mcopy),
            &scratch,
            &mut log,
        )?;
    }
    let written = ext4::write(
        context.store,
        &mke2fs,
        &scratch,
        image.path(),
        &ext4,
        &mut log,
    );
    context.log.extend_from_slice(&log);
    written.map_err(|error| match error {
        BuildError::Failed(message) if size_text != "auto" => BuildError::Failed(format!(
            "{message} (the tree needs about {} MiB with headroom: `size: \"auto\"` gives that)",
            needed / MIB
        )),
        other => other,
    })?;
    context.log_line(format!(
        "disk {} MiB: GPT, root partition {} MiB at {} MiB, ext4 {}",
        disk_size / MIB,
        partition_bytes / MIB,
        first * 512 / MIB,
        ext4.uuid
    ));
    let secret = context.derivation.secret || input.record.secret;
    let info = context.store.import_file(image.path(), secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}

pub(crate) fn build_qcow2(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = &context.derivation.args;
    let Some(Value::Input(index)) = args.get("raw") else {
        return Err(BuildError::Malformed(
            "qcow2 without a raw image".to_owned(),
        ));
    };
    let compress = args
        .get("compress")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let input = context.input(*index)?.clone();
    let OutputObject::File { blob, .. } = input.record.object else {
        return Err(BuildError::Malformed("raw image is a tree".to_owned()));
    };
    let qemu_img = tool(context, "qemu-img", "qemu-utils")?.to_path_buf();
    let scratch = context.store.scratch_directory()?;
    let directory = tempfile::Builder::new()
        .prefix("qcow2-")
        .tempdir_in(&scratch)
        .map_err(|error| {
            BuildError::Environment(format!(
                "cannot create a directory in {}: {error}",
                scratch.display()
            ))
        })?;
    let raw = directory.path().join("disk.raw");
    let mut file = std::fs::File::create(&raw)
        .map_err(|error| BuildError::Environment(format!("{}: {error}", raw.display())))?;
    context.store.copy_blob_to_file(&blob, &mut file)?;
    drop(file);
    let qcow2 = directory.path().join("disk.qcow2");
    let mut command = std::process::Command::new(&qemu_img);
    command
        .env_clear()
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"]);
    if compress {
        command.arg("-c");
    }
    let output = command.arg(&raw).arg(&qcow2).output().map_err(|error| {
        BuildError::Environment(format!("cannot run {}: {error}", qemu_img.display()))
    })?;
    context.log.extend_from_slice(&output.stderr);
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "qemu-img convert failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let secret = context.derivation.secret || input.record.secret;
    let info = context.store.import_file(&qcow2, secret)?;
    Ok(imgbuild_engine::file_output(&info, false, secret))
}
