//! Disk images (being written).

pub mod gpt;
