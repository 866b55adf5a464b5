//! Provenance and distribution: what is inside an image, who endorsed it, and the same
//! root for container platforms.
//!
//! - [`sbom`]: `sbom::spdx(subject)`, a software bill of materials (SPDX 2.3) of a package set, root filesystem, disk image or OCI image, made from the
//!   lock's pins and the tree's own dpkg database by `imgbuild-sbom`;
//! - [`oci`]: `oci::image(root, #{ ... })`, an OCI image layout whose one layer is the
//!   store's deterministic tar of the root, written by `imgbuild-oci`;
//! - [`sign`]: `sign(outputs, #{ key, name })`, a signed release directory (the outputs,
//!   a manifest and an SSH signature by `imgbuild-provenance`) made in the build graph.
//!
//! [`content_root`] answers, for any derivation, which tree its content comes from (a disk
//! image's root, an OCI image's root): the SBOM documents that tree, and `imgbuild diff`
//! compares two of them.

pub mod oci;
pub mod sbom;
pub mod sign;

use imgbuild_evaluator::{DrvId, Graph, Value};

/// The argument through which a derivation of `kind` takes the tree its content is made
/// of, if its output is an encoding of another tree rather than a tree itself.
fn content_argument(kind: &str, args: &Value) -> Option<&'static str> {
    match kind {
        crate::disk::RAW_KIND | oci::KIND => Some("root"),
        crate::core::tar::KIND => Some("tree"),
        crate::disk::QCOW2_KIND | crate::disk::VMDK_KIND | crate::disk::VHD_KIND => {
            // One format alone takes the root; several share a raw image.
            Some(if args.get("raw").is_some() {
                "raw"
            } else {
                "root"
            })
        }
        _ => None,
    }
}

/// The derivation whose tree `id`'s content is: `id` itself for a tree, the root of a
/// disk image (through its raw image) or of an OCI image.
pub fn content_root(graph: &Graph, mut id: DrvId) -> DrvId {
    // A chain is at most a conversion, a raw image and a root: the bound only guards
    // against a malformed graph.
    for _ in 0..graph.len() {
        let derivation = &graph.node(id).derivation;
        let Some(argument) = content_argument(&derivation.kind, &derivation.args) else {
            return id;
        };
        match derivation.args.get(argument) {
            Some(Value::Input(index)) => match derivation.inputs.get(*index as usize) {
                Some(input) => id = *input,
                None => return id,
            },
            _ => return id,
        }
    }
    id
}
