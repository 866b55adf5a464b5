//! Contextualization media: `iso::image` (any tree on an ISO), `cloud_init::seed` and
//! `cloud_init::user_data` (NoCloud), `context::iso` (OpenNebula), `config_drive::image`
//! (OpenStack) and `inventory::csv` / `inventory::json` (one row per VM, validated at
//! evaluation). What they share: [`common`] (arguments, inputs as text, writing an ISO),
//! [`network`] (one NIC model rendered three ways), [`yaml`], [`validate`], [`secrets`].

pub mod cloud_init;
pub mod common;
pub mod config_drive;
pub mod context;
pub mod inventory;
pub mod iso_image;
pub mod network;
pub mod secrets;
pub mod validate;
pub mod yaml;

pub(crate) use common::*;
