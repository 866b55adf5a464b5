//! System Use Sharing Protocol (SUSP 1.12) and Rock Ridge (RRIP 1.09) entries, the
//! part of a primary directory record that carries POSIX names, modes, owners, dates
//! and symlink targets.
//!
//! Entries written (each starts with a 2-byte signature, a length byte including the
//! 4-byte header, and version 1):
//!
//! | entry | length | where |
//! |---|---|---|
//! | `SP` `BE EF`, skip 0 | 7 | first entry of the root "." record only |
//! | `PX` mode, nlink, uid, gid (733 each) | 36 | every record |
//! | `TF` flags `0x0E`: modify, access, attribute change (7-byte dates) | 26 | every record |
//! | `CE` block, offset, length (733 each) | 28 | root "." (for `ER`), and records whose `NM`/`SL` do not fit |
//! | `NM` flags 0, the exact name | 5 + n | every entry except "." and ".." |
//! | `SL` symlink components | 5 + … | symlinks |
//! | `ER` `RRIP_1991A`, the standard descriptor and source texts | 237 | the root's continuation area |
//!
//! No `RR` entry is written (it is optional in RRIP 1.09, and xorriso omits it too).

use crate::date::Timestamp;

/// File-type bits Rock Ridge `PX` carries in the mode.
pub(crate) const S_IFDIR: u32 = 0o040_000;
/// Regular file type bits.
pub(crate) const S_IFREG: u32 = 0o100_000;
/// Symbolic link type bits.
pub(crate) const S_IFLNK: u32 = 0o120_000;

/// Length of a `PX` entry.
pub(crate) const PX_LENGTH: usize = 36;
/// Length of a `TF` entry with three short dates.
pub(crate) const TF_LENGTH: usize = 26;
/// Length of a `CE` entry.
pub(crate) const CE_LENGTH: usize = 28;
/// Length of the `SP` entry.
pub(crate) const SP_LENGTH: usize = 7;

/// The extension identifier FreeBSD and Linux accept, with the texts genisoimage and
/// xorriso write.
const ER_IDENTIFIER: &[u8] = b"RRIP_1991A";
const ER_DESCRIPTOR: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SOURCE: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
/// Length of the `ER` entry: 237.
pub(crate) const ER_LENGTH: usize = 8 + ER_IDENTIFIER.len() + ER_DESCRIPTOR.len() + ER_SOURCE.len();

/// The most bytes an entry's payload after its header can hold.
const ENTRY_PAYLOAD_MAXIMUM: usize = 255 - 5;

/// SL component flags.
const COMPONENT_CONTINUE: u8 = 0x01;
const COMPONENT_CURRENT: u8 = 0x02;
const COMPONENT_PARENT: u8 = 0x04;
const COMPONENT_ROOT: u8 = 0x08;
/// SL and NM entry flag: continued in the next entry of the same kind.
const ENTRY_CONTINUE: u8 = 0x01;

/// Appends a both-endian 32-bit number (ECMA-119 7.3.3).
pub(crate) fn push_733(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
    out.extend_from_slice(&value.to_be_bytes());
}

fn header(out: &mut Vec<u8>, signature: &[u8; 2], length: usize) {
    out.extend_from_slice(signature);
    // Every caller keeps entries at most 255 bytes long.
    out.push(u8::try_from(length).unwrap_or(u8::MAX));
    out.push(1);
}

/// `SP`: "SUSP is in use", skipping no bytes.
pub(crate) fn push_sp(out: &mut Vec<u8>) {
    header(out, b"SP", SP_LENGTH);
    out.extend_from_slice(&[0xBE, 0xEF, 0]);
}

/// `ER` for RRIP 1.09 (`RRIP_1991A`).
pub(crate) fn push_er(out: &mut Vec<u8>) {
    header(out, b"ER", ER_LENGTH);
    for text in [ER_IDENTIFIER, ER_DESCRIPTOR, ER_SOURCE] {
        out.push(text.len() as u8);
    }
    out.push(1);
    for text in [ER_IDENTIFIER, ER_DESCRIPTOR, ER_SOURCE] {
        out.extend_from_slice(text);
    }
}

/// `CE`: the rest of this record's entries are `length` bytes at `offset` in `block`.
pub(crate) fn push_ce(out: &mut Vec<u8>, block: u32, offset: u32, length: u32) {
    header(out, b"CE", CE_LENGTH);
    push_733(out, block);
    push_733(out, offset);
    push_733(out, length);
}

/// `PX`: mode (with file-type bits), link count, owner and group.
pub(crate) fn push_px(out: &mut Vec<u8>, mode: u32, links: u32, uid: u32, gid: u32) {
    header(out, b"PX", PX_LENGTH);
    for value in [mode, links, uid, gid] {
        push_733(out, value);
    }
}

/// `TF`: modification, access and attribute-change times, all `timestamp`.
pub(crate) fn push_tf(out: &mut Vec<u8>, timestamp: &Timestamp) {
    header(out, b"TF", TF_LENGTH);
    out.push(0x0E);
    let date = timestamp.record_bytes();
    for _ in 0..3 {
        out.extend_from_slice(&date);
    }
}

/// `NM` entries for `name` (one entry for every name [`crate::Name`] accepts; longer
/// byte strings are split with the continue flag).
pub(crate) fn push_nm(out: &mut Vec<u8>, name: &[u8]) {
    let mut chunks = name.chunks(ENTRY_PAYLOAD_MAXIMUM).peekable();
    while let Some(chunk) = chunks.next() {
        header(out, b"NM", 5 + chunk.len());
        out.push(if chunks.peek().is_some() {
            ENTRY_CONTINUE
        } else {
            0
        });
        out.extend_from_slice(chunk);
    }
}

/// `SL` entries for `target`. The target is split at `/`; a leading `/` becomes a
/// root component, `.` and `..` their flagged components, other components are
/// written as bytes. Repeated slashes are written as one (`a//b` is stored as `a/b`,
/// which libisofs would read that way anyway); a trailing slash is kept as a final
/// empty component, which Linux and libisofs both read back as `a/`. Components too
/// long for the space left in an entry are split with the component continue flag,
/// and entries are chained with the entry continue flag.
pub(crate) fn push_sl(out: &mut Vec<u8>, target: &[u8]) {
    let mut components: Vec<(u8, &[u8])> = Vec::new();
    let mut rest = target;
    if let Some(stripped) = target.strip_prefix(b"/") {
        components.push((COMPONENT_ROOT, &[]));
        rest = stripped;
    }
    for part in rest.split(|&b| b == b'/').filter(|part| !part.is_empty()) {
        components.push(match part {
            b"." => (COMPONENT_CURRENT, &[][..]),
            b".." => (COMPONENT_PARENT, &[][..]),
            _ => (0, part),
        });
    }
    let named = components.iter().any(|(flags, _)| *flags != COMPONENT_ROOT);
    if components.is_empty() || (named && rest.ends_with(b"/")) {
        components.push((0, &[]));
    }
    // Payload of the entry being filled, after its flags byte.
    let mut entry: Vec<u8> = Vec::with_capacity(ENTRY_PAYLOAD_MAXIMUM);
    let flush = |out: &mut Vec<u8>, entry: &mut Vec<u8>, more: bool| {
        header(out, b"SL", 5 + entry.len());
        out.push(if more { ENTRY_CONTINUE } else { 0 });
        out.extend_from_slice(entry);
        entry.clear();
    };
    for (flags, mut text) in components {
        loop {
            // Room for a component record's two header bytes and at least one byte of
            // text (or none, for a flagged or empty component).
            let room = ENTRY_PAYLOAD_MAXIMUM - entry.len();
            let wanted = 2 + text.len().min(1);
            if room < wanted {
                flush(out, &mut entry, true);
                continue;
            }
            let take = text.len().min(room - 2);
            let continued = take < text.len();
            entry.push(flags | if continued { COMPONENT_CONTINUE } else { 0 });
            entry.push(take as u8);
            entry.extend_from_slice(&text[..take]);
            text = &text[take..];
            if !continued {
                break;
            }
        }
    }
    flush(out, &mut entry, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sl(target: &str) -> Vec<u8> {
        let mut out = Vec::new();
        push_sl(&mut out, target.as_bytes());
        out
    }

    /// Decodes SL entries the way Linux's `get_symlink_chunk` does.
    fn decode(mut entries: &[u8]) -> String {
        let mut target = Vec::new();
        while !entries.is_empty() {
            assert_eq!(&entries[..2], b"SL");
            let length = usize::from(entries[2]);
            let entry_flags = entries[4];
            let mut components = &entries[5..length];
            while !components.is_empty() {
                let flags = components[0];
                let size = usize::from(components[1]);
                let root = flags & !1 == COMPONENT_ROOT;
                match flags & !1 {
                    0 => target.extend_from_slice(&components[2..2 + size]),
                    COMPONENT_CURRENT => target.push(b'.'),
                    COMPONENT_PARENT => target.extend_from_slice(b".."),
                    COMPONENT_ROOT => target.push(b'/'),
                    other => panic!("flag {other}"),
                }
                components = &components[2 + size..];
                let last = components.is_empty();
                if !root && flags & 1 == 0 && (!last || entry_flags & 1 != 0) {
                    target.push(b'/');
                }
            }
            entries = &entries[length..];
        }
        String::from_utf8(target).expect("utf-8")
    }

    #[test]
    fn symlink_components() {
        assert_eq!(sl("../x"), b"SL\x0a\x01\x00\x04\x00\x00\x01x");
        assert_eq!(sl("/"), b"SL\x07\x01\x00\x08\x00");
        assert_eq!(sl("/etc/./passwd")[5..9], [COMPONENT_ROOT, 0, 0, 3]);
        for target in ["a", "../x", "/", "/etc/passwd", "./a/../b", "a/", "/a/./b/"] {
            assert_eq!(decode(&sl(target)), target);
        }
        for (target, stored) in [("a//b", "a/b"), ("//a", "/a"), ("//", "/"), ("a///", "a/")] {
            assert_eq!(decode(&sl(target)), stored);
        }
    }

    #[test]
    fn long_symlinks_split() {
        let long_component = "x".repeat(700);
        let target = format!("/{long_component}/y/{}", "z/".repeat(200));
        let encoded = sl(&target);
        assert_eq!(decode(&encoded), target);
        let mut rest = &encoded[..];
        while !rest.is_empty() {
            assert!(usize::from(rest[2]) <= 255);
            rest = &rest[usize::from(rest[2])..];
        }
    }

    #[test]
    fn er_is_237_bytes() {
        let mut out = Vec::new();
        push_er(&mut out);
        assert_eq!(out.len(), 237);
        assert_eq!(ER_LENGTH, 237);
        assert_eq!(&out[..8], &[b'E', b'R', 237, 1, 10, 84, 135, 1]);
    }

    #[test]
    fn long_names_continue() {
        let mut out = Vec::new();
        push_nm(&mut out, &[b'a'; 300]);
        assert_eq!(out.len(), 310);
        assert_eq!(&out[..5], &[b'N', b'M', 255, 1, ENTRY_CONTINUE]);
        assert_eq!(&out[255..260], &[b'N', b'M', 55, 1, 0]);
    }
}
