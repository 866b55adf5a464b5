//! GUIDs as GPT stores them: the well-known partition types, text conversion and the
//! deterministic [`derive_guid`].
//!
//! GPT stores the first three fields of a GUID little-endian ("mixed-endian"): the text
//! `c12a7328-f81f-11d2-ba4b-00a0c93ec93b` is stored as `28 73 2a c1 1f f8 d2 11 ba 4b …`.
//! Every `[u8; 16]` GUID in this module and its parent holds the stored bytes.

use super::GptError;

/// EFI system partition, `c12a7328-f81f-11d2-ba4b-00a0c93ec93b`.
pub const ESP: [u8; 16] = guid_from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b);
/// Linux root file system on x86-64 (Discoverable Partitions Specification),
/// `4f68bce3-e8cd-4db1-96e7-fbcaf984b709`.
pub const LINUX_ROOT_X86_64: [u8; 16] = guid_from_u128(0x4f68bce3_e8cd_4db1_96e7_fbcaf984b709);
/// Linux file system data, `0fc63daf-8483-4772-8e79-3d69d8477de4`.
pub const LINUX_FILESYSTEM: [u8; 16] = guid_from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4);
/// Linux swap, `0657fd6d-a4ab-43c4-84e5-0933c84b4f4f`.
pub const LINUX_SWAP: [u8; 16] = guid_from_u128(0x0657fd6d_a4ab_43c4_84e5_0933c84b4f4f);
/// /home (Discoverable Partitions Specification), `933ac7e1-2eb4-4f13-b844-0e14e2aef915`.
pub const LINUX_HOME: [u8; 16] = guid_from_u128(0x933ac7e1_2eb4_4f13_b844_0e14e2aef915);
/// /srv (Discoverable Partitions Specification), `3b8f8425-20e0-4f3b-907f-1a25a76f98e8`.
pub const LINUX_SRV: [u8; 16] = guid_from_u128(0x3b8f8425_20e0_4f3b_907f_1a25a76f98e8);
/// /var (Discoverable Partitions Specification), `4d21b016-b534-45c2-a9fb-5c16e091fd2d`.
pub const LINUX_VAR: [u8; 16] = guid_from_u128(0x4d21b016_b534_45c2_a9fb_5c16e091fd2d);
/// Extended boot loader partition (a separate /boot for systemd-boot),
/// `bc13c2ff-59e6-4262-a352-b275fd6f7172`.
pub const XBOOTLDR: [u8; 16] = guid_from_u128(0xbc13c2ff_59e6_4262_a352_b275fd6f7172);

/// The BLAKE3 key-derivation context of [`derive_guid`]; changing it changes every GUID.
const GUID_CONTEXT: &str = "imgbuild gpt guid v1";

/// The on-disk bytes of the GUID whose text form, read as one hexadecimal number, is
/// `value` (for constants).
const fn guid_from_u128(value: u128) -> [u8; 16] {
    text_order_to_disk(value.to_be_bytes())
}

/// Swaps the first three fields between text order (big-endian) and disk order; the
/// swap is its own inverse.
const fn text_order_to_disk(bytes: [u8; 16]) -> [u8; 16] {
    let b = bytes;
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case) into the bytes GPT stores.
pub fn guid_from_text(text: &str) -> Result<[u8; 16], GptError> {
    let invalid = || GptError::GuidText {
        text: text.to_owned(),
    };
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return Err(invalid());
    }
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(groups.concat(), &mut bytes).map_err(|_| invalid())?;
    Ok(text_order_to_disk(bytes))
}

/// The lowercase text form of a GUID held as the bytes GPT stores.
pub fn guid_to_text(guid: &[u8; 16]) -> String {
    let text = hex::encode(text_order_to_disk(*guid));
    format!(
        "{}-{}-{}-{}-{}",
        &text[0..8],
        &text[8..12],
        &text[12..16],
        &text[16..20],
        &text[20..32]
    )
}

/// A GUID (bytes as GPT stores them) derived from `seed` (a derivation identity) and
/// `purpose` (`"disk"`, `"partition esp"`): BLAKE3 in key-derivation mode, shaped as an
/// RFC 4122 version 4 GUID so tools accept it. Different purposes give unrelated GUIDs.
pub fn derive_guid(seed: &[u8], purpose: &str) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new_derive_key(GUID_CONTEXT);
    // Length prefixes keep (seed, purpose) pairs from running into each other.
    hasher.update(&(seed.len() as u64).to_le_bytes());
    hasher.update(seed);
    hasher.update(&(purpose.len() as u64).to_le_bytes());
    hasher.update(purpose.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    text_order_to_disk(bytes)
}
