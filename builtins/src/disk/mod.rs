//! Disk images: `disk::image(#{ root, size, format, ... })` turns a root tree from the
//! store into a partitioned disk image — without root, loop devices, mounts or a VM —
//! with the same bytes on every build.
//!
//! ```rhai
//! let disk = disk::image(#{
//!     root: rootfs,              // a tree (debian::rootfs, tree(), run(), ...)
//!     name: "web",
//!     size: "auto",              // or "2G", "1536M": the whole disk
//!     format: "qcow2",           // raw (default), qcow2, vmdk or vhd
//!     // formats: ["qcow2", "vmdk"],  // several: a map from format to derivation
//!     compress: false,           // qcow2 only
//!     boot: "systemd-boot",      // the default: an ESP with the image's systemd-boot; or "none"
//!     kernel_cmdline: "console=ttyS0,115200",  // after root=PARTUUID=... rw
//!     partitions: [#{ type: "swap", size: "512M" }],  // see [`options`]
//!     source_date_epoch: 1700000000,
//! });
//! ```
//!
//! The `disk_raw` derivation ([`assemble`]) writes a GPT ([`gpt`]) with an EFI system
//! partition holding the image's own systemd-boot, kernel and initramfs ([`esp`]),
//! declared partitions (swap by [`swap`], ext4, XBOOTLDR) and the Linux root partition
//! (ext4 by `mke2fs -d -`, [`ext4`]), which takes the rest of the disk. Every other
//! format is a derivation of its own reading the raw one ([`convert`]), so
//! `formats: ["qcow2", "vmdk"]` builds the raw image once.
//!
//! `size: "auto"` is the root tree's ext4 estimate (file contents in 4 KiB blocks, two
//! inodes' and directory entries' worth per entry, the journal, then 20% and 64 MiB of
//! headroom), plus the ESP (twice the boot files and 32 MiB, at least 64 MiB), the
//! declared partitions and the partition tables.
//!
//! Identities: the disk GUID, the partition GUIDs, the file-system UUIDs and hash
//! seeds and the FAT volume ids are derived from the derivation's name and its root
//! tree's digest ([`derive_uuid`], [`gpt::derive_guid`]), so a changed tree gives new
//! ids and an unchanged one the same.

pub mod assemble;
pub mod convert;
pub mod esp;
pub mod ext4;
pub mod gpt;
pub mod options;
pub mod swap;

use std::collections::BTreeMap;

use imgbuild_engine::{BuildContext, BuildError};
use imgbuild_evaluator::rhai::{Dynamic, Engine, EvalAltResult, Map, Module, NativeCallContext};
use imgbuild_evaluator::{
    ArgMap, BuiltinError, DerivationHandle, DerivationSpec, SharedState, Value,
};

pub(crate) use assemble::build_raw;
pub(crate) use convert::{build_qcow2, build_vhd, build_vmdk};
pub use convert::{QCOW2_KIND, VHD_KIND, VMDK_KIND};

/// The raw image's derivation kind.
pub const RAW_KIND: &str = "disk_raw";
pub(crate) const VERSION: u32 = 1;

const KEYS: &[&str] = &[
    "root",
    "name",
    "size",
    "format",
    "formats",
    "boot",
    "compress",
    "partitions",
    "kernel_cmdline",
    "source_date_epoch",
];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let mut module = Module::new();
    let state = registration.state.clone();
    module.set_native_fn(
        "image",
        move |context: NativeCallContext, options: Map| -> Result<Dynamic, Box<EvalAltResult>> {
            image(&state, &context, options).map_err(|error| crate::core::at_call(&context, error))
        },
    );
    engine.register_static_module("disk", module.into());
}

/// `disk::image`: the raw image's derivation and one conversion per other format. One
/// `format` gives that derivation; `formats` gives a map from format to derivation.
fn image(
    state: &SharedState,
    context: &NativeCallContext,
    options: Map,
) -> Result<Dynamic, BuiltinError> {
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
    options::parse_size(&size_text)
        .map_err(|message| BuiltinError::new(format!("disk::image: `size`: {message}")))?;
    let formats = options::formats(&arguments)?;
    let boot = arguments
        .optional_string("boot")?
        .unwrap_or_else(|| "systemd-boot".to_owned());
    if !options::BOOTS.contains(&boot.as_str()) {
        return Err(BuiltinError::new(format!("disk::image: unknown boot `{boot}`"))
            .with_help("`systemd-boot` (an EFI system partition with the image's systemd-boot, the default) or `none`"));
    }
    let epoch = crate::media::common::epoch(&arguments)?;
    let mut inputs = imgbuild_evaluator::Inputs::new();
    let mut args = BTreeMap::new();
    args.insert("root".to_owned(), inputs.reference(root.id));
    args.insert("size".to_owned(), Value::String(size_text));
    args.insert(
        "partitions".to_owned(),
        options::partitions(&arguments, boot != "none", &mut inputs)?,
    );
    if let Some(line) = arguments.optional_string("kernel_cmdline")? {
        if line.contains('\n') {
            return Err(BuiltinError::new(
                "disk::image: `kernel_cmdline` is one line",
            ));
        }
        args.insert("kernel_cmdline".to_owned(), Value::String(line));
    }
    args.insert("boot".to_owned(), Value::String(boot));
    args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
    let compress = arguments.optional_bool("compress")?.unwrap_or(false);
    let conversion = |format: &str, args: &mut BTreeMap<String, Value>| match format {
        "qcow2" => {
            args.insert("compress".to_owned(), Value::Bool(compress));
            QCOW2_KIND
        }
        "vmdk" => VMDK_KIND,
        _ => {
            args.insert("source_date_epoch".to_owned(), Value::Int(epoch));
            VHD_KIND
        }
    };
    if let [format] = formats.as_slice() {
        // One format: one derivation, which assembles the raw image itself unless raw
        // is what was asked for.
        let kind = if format == "raw" {
            RAW_KIND
        } else {
            conversion(format, &mut args)
        };
        let handle = state.add(
            context,
            DerivationSpec::derived(kind, VERSION, name, args, inputs),
        );
        return Ok(match arguments.get("formats") {
            None => Dynamic::from(handle),
            Some(_) => {
                let mut made = Map::new();
                made.insert(format.as_str().into(), Dynamic::from(handle));
                Dynamic::from_map(made)
            }
        });
    }
    let raw = state.add(
        context,
        DerivationSpec::derived(RAW_KIND, VERSION, name.clone(), args, inputs),
    );
    let mut made = Map::new();
    for format in &formats {
        let handle = if format == "raw" {
            raw
        } else {
            let mut inputs = imgbuild_evaluator::Inputs::new();
            let mut args = BTreeMap::new();
            args.insert("raw".to_owned(), inputs.reference(raw.id));
            let kind = conversion(format, &mut args);
            state.add(
                context,
                DerivationSpec::derived(kind, VERSION, name.clone(), args, inputs),
            )
        };
        made.insert(format.as_str().into(), Dynamic::from(handle));
    }
    Ok(Dynamic::from_map(made))
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

pub(crate) fn tool<'a>(
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
