//! File extents: where each file's bytes go. Extents are allocated after all metadata,
//! depth-first through the tree in exact-name order, one sector-aligned extent per
//! file. Files with the same `External` key share the first one's extent; empty files
//! get none (extent LBA 0, length 0). Files of 4 GiB or more are refused: writing them
//! would need multi-extent records, which this writer does not produce.

use std::collections::HashMap;

use crate::descriptors::SECTOR;
use crate::layout::{child_path, narrow, DirectoryPlan, Extent, ExtentPlan, Target};
use crate::{Content, IsoError, Node};

/// Allocates file extents depth-first in exact-name order from `cursor`, sets every
/// file child's target, and reports whether any content is external.
pub(crate) fn plan_extents<'a>(
    directories: &mut [DirectoryPlan<'a>],
    cursor: &mut u64,
) -> Result<(Vec<ExtentPlan<'a>>, bool), IsoError> {
    let mut extents: Vec<ExtentPlan<'a>> = Vec::new();
    // External key → the extent holding it and the first file using it.
    let mut by_key: HashMap<u64, (Extent, (usize, usize))> = HashMap::new();
    let mut has_external = false;
    // Depth-first walk: (directory, next child position).
    let mut stack = vec![(0usize, 0usize)];
    while let Some((directory, position)) = stack.pop() {
        let Some(child) = directories[directory].children.get(position) else {
            continue;
        };
        stack.push((directory, position + 1));
        let file = match (child.node, child.target) {
            (_, Target::Directory(index)) => {
                stack.push((index, 0));
                continue;
            }
            (Node::File(file), _) => file,
            _ => continue,
        };
        let size = match &file.content {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::External { size, .. } => *size,
        };
        let size32 = u32::try_from(size).map_err(|_| IsoError::Unrepresentable {
            path: child_path(&directories[directory], position),
            reason: format!(
                "is {size} bytes; an ISO 9660 extent holds at most 4294967295 bytes (4 GiB − 1) and multi-extent files are not written"
            ),
        })?;
        if let Content::External { key, .. } = &file.content {
            has_external = true;
            if let Some(&(existing, (owner_directory, owner_child))) = by_key.get(key) {
                if existing.size != size32 {
                    return Err(IsoError::Unrepresentable {
                        path: child_path(&directories[directory], position),
                        reason: format!(
                            "shares external key {key} with `{}` but declares {size} bytes instead of {}",
                            child_path(&directories[owner_directory], owner_child),
                            existing.size
                        ),
                    });
                }
                directories[directory].children[position].target = Target::Data(existing);
                continue;
            }
        }
        let mut extent = Extent::default();
        if size > 0 {
            extent = Extent {
                lba: narrow(*cursor, &child_path(&directories[directory], position))?,
                size: size32,
            };
            *cursor += size.div_ceil(SECTOR as u64);
            extents.push(ExtentPlan {
                content: &file.content,
                extent,
                owner: (directory, position),
            });
        }
        if let Content::External { key, .. } = &file.content {
            by_key.insert(*key, (extent, (directory, position)));
        }
        directories[directory].children[position].target = Target::Data(extent);
    }
    Ok((extents, has_external))
}
