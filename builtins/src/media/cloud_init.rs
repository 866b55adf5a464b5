//! `cloud_init::seed(#{ ... })` — a NoCloud seed ISO labelled `cidata` — and
//! `cloud_init::user_data(#{ ... })` — the user-data file alone, for clouds that take
//! user-data directly.
//!
//! ```rhai
//! cloud_init::seed(#{
//!     hostname: "web-1",
//!     user_data: #{ packages: ["nginx"], runcmd: [["systemctl", "enable", "--now", "nginx"]] },
//!     ssh_keys: ["ssh-ed25519 AAAA… ops@example"],
//!     user: #{ name: "ops", password: "…", sudo: true },   // hashed at build time
//!     network: #{ ip: "10.0.0.5", prefix: 24, gateway: "10.0.0.1", dns: "10.0.0.1" },
//!     scripts: #{ "10-hello.sh": "#!/bin/sh\necho hello\n" },   // → MIME multipart
//!     meta_data: #{ "public-keys": … },   // extra meta-data keys
//!     vendor_data: #{ … },
//!     source_date_epoch: 1700000000,
//! })
//! ```
//!
//! user-data is the `user_data` map rendered as `#cloud-config` YAML (a string is taken
//! verbatim), with `ssh_keys` added as `ssh_authorized_keys` and `user` appended to
//! `users` after `default`. With `scripts` it becomes a MIME multipart document with a
//! boundary derived from its content. meta-data carries `instance-id` — by default
//! derived from everything else on the seed, so a VM whose seed changed is a new instance
//! to cloud-init and re-runs its per-instance modules — and `local-hostname`.
//! `network` is rendered as network config v2 (see `network.rs`); `network_config` takes
//! a raw v2 map instead.

use std::collections::BTreeMap;

use imgbuild_evaluator::rhai::{Engine, Map, Module};
use imgbuild_evaluator::{ArgMap, BuiltinError, DerivationSpec, Inputs, SharedState, Value};
use imgbuild_store::OutputRecord;

use crate::media::network;
use crate::media::secrets;
use crate::media::yaml::{self, Yaml};
use crate::media::{self, argument_error, MediumFile};
use imgbuild_engine::{BuildContext, BuildError};

/// Kind of `cloud_init::seed`.
pub const SEED_KIND: &str = "cloud_init_seed";
/// Kind of `cloud_init::user_data`.
pub const USER_DATA_KIND: &str = "cloud_init_user_data";
pub(crate) const VERSION: u32 = 1;

const SEED_KEYS: &[&str] = &[
    "name",
    "hostname",
    "instance_id",
    "user_data",
    "scripts",
    "ssh_keys",
    "user",
    "network",
    "network_config",
    "meta_data",
    "vendor_data",
    "source_date_epoch",
    "secret",
];
const USER_DATA_KEYS: &[&str] = &["name", "user_data", "scripts", "ssh_keys", "user", "secret"];
const USER_KEYS: &[&str] = &[
    "name",
    "ssh_keys",
    "password",
    "crypted_password",
    "sudo",
    "groups",
    "shell",
];

/// Top-level cloud-config keys (cloud-init 22.4's schema plus base settings), used to
/// catch typos: an unknown key close to one of these is an error with a suggestion.
const CLOUD_CONFIG_KEYS: &[&str] = &[
    "allow_public_ssh_keys",
    "ansible",
    "apk_repos",
    "apt",
    "apt_pipelining",
    "apt_reboot_if_required",
    "apt_update",
    "apt_upgrade",
    "authkey_hash",
    "autoinstall",
    "bootcmd",
    "byobu_by_default",
    "ca-certs",
    "ca_certs",
    "chef",
    "chpasswd",
    "cloud_config_modules",
    "cloud_final_modules",
    "cloud_init_modules",
    "create_hostname_file",
    "datasource",
    "datasource_list",
    "device_aliases",
    "disable_ec2_metadata",
    "disable_root",
    "disable_root_opts",
    "disk_setup",
    "drivers",
    "fan",
    "final_message",
    "fqdn",
    "fs_setup",
    "groups",
    "growpart",
    "grub-dpkg",
    "grub_dpkg",
    "hostname",
    "keyboard",
    "landscape",
    "locale",
    "locale_configfile",
    "lxd",
    "manage_etc_hosts",
    "manage_resolv_conf",
    "manual_cache_clean",
    "mcollective",
    "merge_how",
    "merge_type",
    "migrate",
    "mount_default_fields",
    "mounts",
    "network",
    "no_ssh_fingerprints",
    "ntp",
    "output",
    "package_reboot_if_required",
    "package_update",
    "package_upgrade",
    "packages",
    "password",
    "phone_home",
    "power_state",
    "prefer_fqdn_over_hostname",
    "preserve_hostname",
    "puppet",
    "random_seed",
    "reporting",
    "resize_rootfs",
    "resolv_conf",
    "rh_subscription",
    "rsyslog",
    "runcmd",
    "salt_minion",
    "snap",
    "spacewalk",
    "ssh",
    "ssh_authorized_keys",
    "ssh_deletekeys",
    "ssh_fp_console_blacklist",
    "ssh_genkeytypes",
    "ssh_import_id",
    "ssh_key_console_blacklist",
    "ssh_keys",
    "ssh_publish_hostkeys",
    "ssh_pwauth",
    "ssh_quiet_keygen",
    "ssh_redirect_user",
    "swap",
    "system_info",
    "timezone",
    "ubuntu_advantage",
    "ubuntu_pro",
    "updates",
    "user",
    "users",
    "vendor_data",
    "wireguard",
    "write_files",
    "yum_repo_dir",
    "yum_repos",
    "zypper",
];

pub(crate) fn register(engine: &mut Engine, registration: &crate::Registration) {
    let state = &registration.state;
    let mut module = Module::new();
    media::add_constructor(&mut module, state, "seed", seed_spec);
    media::add_constructor(&mut module, state, "user_data", user_data_spec);
    engine.register_static_module("cloud_init", module.into());
}

/// The parts of user-data every constructor that renders it shares.
pub(crate) fn user_data_arguments(
    state: &SharedState,
    arguments: &ArgMap,
    inputs: &mut Inputs,
    args: &mut BTreeMap<String, Value>,
) -> Result<(), BuiltinError> {
    let user_data = media::value_of(state, arguments, "user_data", inputs)?;
    match &user_data {
        Value::Null | Value::String(_) | Value::Input(_) => {}
        Value::Map(map) => check_cloud_config(arguments, map)?,
        _ => {
            return Err(argument_error(
                arguments,
                "user_data",
                "must be a map (rendered as #cloud-config) or a string",
            ))
        }
    }
    let scripts = media::value_of(state, arguments, "scripts", inputs)?;
    match &scripts {
        Value::Null => {}
        Value::Map(map) => {
            for (name, script) in map {
                imgbuild_iso::Name::new(name)
                    .map_err(|error| argument_error(arguments, "scripts", error))?;
                if !matches!(script, Value::String(_) | Value::Input(_)) {
                    return Err(argument_error(
                        arguments,
                        "scripts",
                        format!("`{name}` must be a string or a file derivation"),
                    ));
                }
            }
        }
        _ => {
            return Err(argument_error(
                arguments,
                "scripts",
                "must be a map of file name to script",
            ))
        }
    }
    let ssh_keys = media::ssh_keys(
        arguments,
        &media::value_of(state, arguments, "ssh_keys", inputs)?,
    )?;
    let user = user_argument(state, arguments, inputs)?;
    let conveniences =
        !matches!(&ssh_keys, Value::List(keys) if keys.is_empty()) || user != Value::Null;
    if conveniences && matches!(user_data, Value::String(_) | Value::Input(_)) {
        return Err(argument_error(
            arguments,
            "user_data",
            "is verbatim text, so `ssh_keys` and `user` cannot be added to it",
        )
        .with_help("give `user_data` as a map, or put the keys into your text"));
    }
    if scripts != Value::Null && matches!(user_data, Value::String(_) | Value::Input(_)) {
        return Err(argument_error(
            arguments,
            "scripts",
            "need `user_data` as a map (they are combined into a MIME multipart document)",
        ));
    }
    args.insert("user_data".to_owned(), user_data);
    args.insert("scripts".to_owned(), scripts);
    args.insert("ssh_keys".to_owned(), ssh_keys);
    args.insert("user".to_owned(), user);
    Ok(())
}

fn check_cloud_config(
    arguments: &ArgMap,
    map: &BTreeMap<String, Value>,
) -> Result<(), BuiltinError> {
    for (key, value) in map {
        if !CLOUD_CONFIG_KEYS.contains(&key.as_str()) {
            if let Some(near) = imgbuild_evaluator::suggest(key, CLOUD_CONFIG_KEYS.iter().copied())
            {
                return Err(argument_error(
                    arguments,
                    "user_data",
                    format!("unknown cloud-config key `{key}`"),
                )
                .with_help(format!("did you mean `{near}`?")));
            }
        }
        if contains_bytes(value) {
            return Err(argument_error(
                arguments,
                "user_data",
                format!("`{key}` holds binary data, which YAML cannot carry"),
            )
            .with_help("base64-encode it and use `encoding: \"b64\"` in write_files"));
        }
    }
    Ok(())
}

fn contains_bytes(value: &Value) -> bool {
    match value {
        Value::Bytes(_) => true,
        Value::List(items) => items.iter().any(contains_bytes),
        Value::Map(entries) => entries.values().any(contains_bytes),
        _ => false,
    }
}

/// Checks the `user` map and returns it canonically.
fn user_argument(
    state: &SharedState,
    arguments: &ArgMap,
    inputs: &mut Inputs,
) -> Result<Value, BuiltinError> {
    let Some(user) = arguments.get("user") else {
        return Ok(Value::Null);
    };
    let Some(map) = user.read_lock::<Map>().map(|map| map.clone()) else {
        return Err(argument_error(
            arguments,
            "user",
            format!("must be a map, not {}", media::describe(user)),
        ));
    };
    let user_arguments = ArgMap::new("cloud_init user", map, USER_KEYS)?;
    let name = user_arguments.required_string("name")?;
    crate::media::validate::dns_label(&name)
        .map_err(|reason| argument_error(arguments, "user.name", reason))?;
    let mut canonical = BTreeMap::new();
    canonical.insert("name".to_owned(), Value::String(name));
    let keys = media::value_of(state, &user_arguments, "ssh_keys", inputs)?;
    canonical.insert("ssh_keys".to_owned(), media::ssh_keys(arguments, &keys)?);
    if let Some(password) = media::secret_text(state, &user_arguments, "password")? {
        canonical.insert("password".to_owned(), Value::Secret(password));
    }
    if let Some(hash) = media::secret_text(state, &user_arguments, "crypted_password")? {
        secrets::crypt_hash(hash.text())
            .map_err(|reason| argument_error(arguments, "user.crypted_password", reason))?;
        canonical.insert("crypted_password".to_owned(), Value::Secret(hash));
    }
    if canonical.contains_key("password") && canonical.contains_key("crypted_password") {
        return Err(argument_error(
            arguments,
            "user",
            "give `password` or `crypted_password`, not both",
        ));
    }
    for key in ["sudo", "groups", "shell"] {
        let value = media::value_of(state, &user_arguments, key, inputs)?;
        // Values the builder would otherwise drop or replace silently.
        let wrong = match (key, &value) {
            (_, Value::Null) => None,
            ("sudo", Value::Bool(_) | Value::String(_)) => None,
            ("sudo", _) => Some("must be true, false or a sudoers rule (a string)"),
            ("groups", Value::String(_)) => None,
            ("groups", Value::List(items)) if items.iter().all(|item| item.as_str().is_some()) => {
                None
            }
            ("groups", _) => Some("must be a string or an array of strings"),
            ("shell", Value::String(shell)) if shell.starts_with('/') => None,
            _ => Some("must be an absolute path such as \"/bin/bash\""),
        };
        if let Some(problem) = wrong {
            return Err(argument_error(arguments, &format!("user.{key}"), problem));
        }
        canonical.insert(key.to_owned(), value);
    }
    Ok(Value::Map(canonical))
}

fn seed_spec(state: &SharedState, options: Map) -> Result<DerivationSpec, BuiltinError> {
    let arguments = media::arguments("cloud_init::seed", options, SEED_KEYS)?;
    let mut inputs = Inputs::new();
    let mut args = BTreeMap::new();
    let hostname = arguments.optional_string("hostname")?;
    if let Some(hostname) = &hostname {
        crate::media::validate::hostname(hostname)
            .map_err(|reason| argument_error(&arguments, "hostname", reason))?;
    }
    args.insert(
        "hostname".to_owned(),
        hostname.clone().map(Value::String).unwrap_or(Value::Null),
    );
    let instance_id = arguments.optional_string("instance_id")?;
    if let Some(id) = &instance_id {
        if id.is_empty() || id.contains(['\n', '/']) {
            return Err(argument_error(
                &arguments,
                "instance_id",
                "must be a non-empty single line without `/`",
            ));
        }
    }
    args.insert(
        "instance_id".to_owned(),
        instance_id.map(Value::String).unwrap_or(Value::Null),
    );
    user_data_arguments(state, &arguments, &mut inputs, &mut args)?;
    let network = media::value_of(state, &arguments, "network", &mut inputs)?;
    network::parse(&network).map_err(|reason| argument_error(&arguments, "network", reason))?;
    let network_config = media::value_of(state, &arguments, "network_config", &mut inputs)?;
    media::expect_map_or_null(&arguments, "network_config", &network_config)?;
    if network != Value::Null && network_config != Value::Null {
        return Err(argument_error(
            &arguments,
            "network_config",
            "give `network` or `network_config`, not both",
        ));
    }
    check_network_config(&arguments, &network_config)?;
    let meta_data = media::value_of(state, &arguments, "meta_data", &mut inputs)?;
    media::expect_map_or_null(&arguments, "meta_data", &meta_data)?;
    // These two are written from `instance_id` and `hostname`; a copy in meta_data would
    // be dropped silently.
    for (key, instead) in [
        ("instance-id", "instance_id"),
        ("instance_id", "instance_id"),
        ("local-hostname", "hostname"),
    ] {
        if meta_data.get(key).is_some() {
            return Err(argument_error(
                &arguments,
                "meta_data",
                format!(
                    "`{key}` is written from the seed's `{instance}` argument; give it there",
                    instance = instead
                ),
            ));
        }
    }
    let vendor_data = media::value_of(state, &arguments, "vendor_data", &mut inputs)?;
    if !matches!(
        vendor_data,
        Value::Null | Value::Map(_) | Value::String(_) | Value::Input(_)
    ) {
        return Err(argument_error(
            &arguments,
            "vendor_data",
            "must be a map or a string",
        ));
    }
    args.insert("network".to_owned(), network);
    args.insert("network_config".to_owned(), network_config);
    args.insert("meta_data".to_owned(), meta_data);
    args.insert("vendor_data".to_owned(), vendor_data);
    let name = media::epoch_and_name(&arguments, &mut args, hostname, "seed")?;
    let secret =
        media::forced_secret(&arguments)? || secrets::holds_secrets(&Value::Map(args.clone()));
    let mut spec = DerivationSpec::derived(SEED_KIND, VERSION, name, args, inputs);
    spec.secret = secret;
    Ok(spec)
}

/// Refuses `to: default` routes, which cloud-init before 25.3 cannot read.
fn check_network_config(arguments: &ArgMap, value: &Value) -> Result<(), BuiltinError> {
    match value {
        Value::Map(entries) => {
            if entries.get("to").and_then(Value::as_str) == Some("default") {
                return Err(argument_error(
                    arguments,
                    "network_config",
                    "a route says `to: default`, which cloud-init before 25.3 rejects",
                )
                .with_help("write `to: \"0.0.0.0/0\"` (or `\"::/0\"` for IPv6)"));
            }
            entries
                .values()
                .try_for_each(|item| check_network_config(arguments, item))
        }
        Value::List(items) => items
            .iter()
            .try_for_each(|item| check_network_config(arguments, item)),
        _ => Ok(()),
    }
}

fn user_data_spec(state: &SharedState, options: Map) -> Result<DerivationSpec, BuiltinError> {
    let arguments = media::arguments("cloud_init::user_data", options, USER_DATA_KEYS)?;
    let mut inputs = Inputs::new();
    let mut args = BTreeMap::new();
    user_data_arguments(state, &arguments, &mut inputs, &mut args)?;
    let name = arguments
        .optional_string("name")?
        .unwrap_or_else(|| "user-data".to_owned());
    crate::core::paths::check_name("cloud_init::user_data", &name)?;
    let secret =
        media::forced_secret(&arguments)? || secrets::holds_secrets(&Value::Map(args.clone()));
    let mut spec = DerivationSpec::derived(USER_DATA_KIND, VERSION, name, args, inputs);
    spec.secret = secret;
    Ok(spec)
}

/// A canonical value as YAML (maps in key order).
pub(crate) fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(flag) => Yaml::Bool(*flag),
        Value::Int(number) => Yaml::Int(*number),
        Value::String(text) => Yaml::String(text.clone()),
        Value::Secret(sealed) => Yaml::String(sealed.text().to_owned()),
        Value::List(items) => Yaml::List(items.iter().map(to_yaml).collect()),
        Value::Map(entries) => Yaml::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), to_yaml(v)))
                .collect(),
        ),
        // Resolved before rendering; bytes are refused at evaluation.
        Value::Bytes(_) | Value::Input(_) => Yaml::Null,
    }
}

fn text_of(context: &BuildContext<'_>, value: &Value) -> Result<Option<String>, BuildError> {
    match value {
        Value::Null => Ok(None),
        Value::String(_) | Value::Secret(_) => Ok(value.as_str().map(str::to_owned)),
        Value::Input(index) => Ok(Some(media::input_text(context, *index)?)),
        other => Ok(Some(yaml::render(&to_yaml(&media::resolve_inputs(
            context, other,
        )?)))),
    }
}

/// Renders user-data from the arguments [`user_data_arguments`] stored. `salt_context`
/// makes password salts differ per VM.
pub(crate) fn render_user_data(
    context: &BuildContext<'_>,
    args: &Value,
    salt_context: &str,
) -> Result<Vec<u8>, BuildError> {
    let user_data = args.get("user_data").unwrap_or(&Value::Null);
    if let Value::String(_) | Value::Secret(_) | Value::Input(_) = user_data {
        return Ok(text_of(context, user_data)?
            .unwrap_or_default()
            .into_bytes());
    }
    let mut config = to_yaml(&media::resolve_inputs(context, user_data)?);
    if config == Yaml::Null {
        config = Yaml::Map(Vec::new());
    }
    let Yaml::Map(entries) = &mut config else {
        return Err(BuildError::Malformed("user_data is not a map".to_owned()));
    };
    if let Some(Value::List(keys)) = args.get("ssh_keys") {
        if !keys.is_empty() {
            let keys: Vec<Yaml> = keys.iter().map(to_yaml).collect();
            match entries
                .iter_mut()
                .find(|(key, _)| key == "ssh_authorized_keys")
            {
                Some((_, Yaml::List(existing))) => existing.extend(keys),
                _ => entries.push(("ssh_authorized_keys".to_owned(), Yaml::List(keys))),
            }
        }
    }
    if let Some(user @ Value::Map(_)) = args.get("user") {
        let entry = user_entry(user, salt_context)?;
        match entries.iter_mut().find(|(key, _)| key == "users") {
            Some((_, Yaml::List(existing))) => existing.push(entry),
            _ => entries.push((
                "users".to_owned(),
                Yaml::List(vec![Yaml::string("default"), entry]),
            )),
        }
    }
    let cloud_config = format!("#cloud-config\n{}", yaml::render(&config));
    let scripts = match args.get("scripts") {
        Some(Value::Map(scripts)) if !scripts.is_empty() => scripts,
        _ => return Ok(cloud_config.into_bytes()),
    };
    let mut parts = vec![(
        "cloud-config.yaml".to_owned(),
        "text/cloud-config",
        cloud_config.into_bytes(),
    )];
    for (name, script) in scripts {
        let bytes = match script {
            Value::Input(index) => media::input_bytes(context, *index)?,
            other => other.as_str().unwrap_or_default().as_bytes().to_vec(),
        };
        parts.push((name.clone(), "text/x-shellscript", bytes));
    }
    Ok(multipart(&parts))
}

/// One `users` entry from the `user` argument.
fn user_entry(user: &Value, salt_context: &str) -> Result<Yaml, BuildError> {
    let name = user.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut entry = vec![("name".to_owned(), Yaml::string(name))];
    if let Some(Value::List(keys)) = user.get("ssh_keys") {
        if !keys.is_empty() {
            entry.push((
                "ssh_authorized_keys".to_owned(),
                Yaml::List(keys.iter().map(to_yaml).collect()),
            ));
        }
    }
    let hash = match (user.get("password"), user.get("crypted_password")) {
        (Some(Value::Secret(password)), _) => Some(
            secrets::sha512_crypt(password, &format!("{salt_context}/{name}"))
                .map_err(BuildError::Failed)?,
        ),
        (_, Some(hash)) => hash.as_str().map(str::to_owned),
        (Some(_), None) => {
            return Err(BuildError::Malformed(
                "user.password is not sealed".to_owned(),
            ))
        }
        (None, None) => None,
    };
    if let Some(hash) = hash {
        entry.push(("hashed_passwd".to_owned(), Yaml::String(hash)));
        entry.push(("lock_passwd".to_owned(), Yaml::Bool(false)));
    }
    match user.get("sudo") {
        Some(Value::Bool(true)) => {
            entry.push(("sudo".to_owned(), Yaml::string("ALL=(ALL) NOPASSWD:ALL")))
        }
        Some(Value::String(rule)) => entry.push(("sudo".to_owned(), Yaml::string(rule.clone()))),
        _ => {}
    }
    match user.get("groups") {
        Some(Value::String(groups)) => {
            entry.push(("groups".to_owned(), Yaml::string(groups.clone())))
        }
        Some(Value::List(groups)) => entry.push((
            "groups".to_owned(),
            Yaml::List(groups.iter().map(to_yaml).collect()),
        )),
        _ => {}
    }
    let shell = user
        .get("shell")
        .and_then(Value::as_str)
        .unwrap_or("/bin/bash");
    entry.push(("shell".to_owned(), Yaml::string(shell)));
    Ok(Yaml::Map(entry))
}

/// A MIME multipart/mixed document; the boundary is derived from the parts' content.
fn multipart(parts: &[(String, &str, Vec<u8>)]) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new_derive_key("imgbuild mime boundary v1");
    for (name, kind, bytes) in parts {
        hasher.update(name.as_bytes());
        hasher.update(kind.as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let boundary = format!("==imgbuild-{}==", &hasher.finalize().to_hex()[..32]);
    let mut out = format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\nNumber-Attachments: {}\n\n",
        parts.len()
    )
    .into_bytes();
    for (name, kind, bytes) in parts {
        out.extend_from_slice(
            format!(
                "--{boundary}\nContent-Type: {kind}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\nContent-Disposition: attachment; filename=\"{name}\"\n\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        if !bytes.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out.extend_from_slice(format!("--{boundary}--\n").as_bytes());
    out
}

/// The default instance-id: derived from everything on the seed.
fn derived_instance_id(documents: &[&[u8]]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("imgbuild nocloud instance-id v1");
    for document in documents {
        hasher.update(&(document.len() as u64).to_le_bytes());
        hasher.update(document);
    }
    format!("iid-{}", &hasher.finalize().to_hex()[..24])
}

pub(crate) fn build_seed(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context.derivation.args.clone();
    let secret = context.derivation.secret;
    let (hostname, salt_context) = media::hostname_and_salt(context.derivation);
    let user_data = render_user_data(context, &args, &salt_context)?;
    let nics =
        network::parse(args.get("network").unwrap_or(&Value::Null)).map_err(BuildError::Failed)?;
    let network_config = match args.get("network_config") {
        Some(config @ Value::Map(_)) => Some(yaml::render(&to_yaml(&media::resolve_inputs(
            context, config,
        )?))),
        _ => network::cloud_init_v2(&nics).map(|config| yaml::render(&config)),
    };
    let vendor_data =
        text_of(context, args.get("vendor_data").unwrap_or(&Value::Null))?.map(|text| {
            if matches!(args.get("vendor_data"), Some(Value::Map(_))) {
                format!("#cloud-config\n{text}")
            } else {
                text
            }
        });
    let mut extra = match args.get("meta_data") {
        Some(meta @ Value::Map(_)) => match to_yaml(&media::resolve_inputs(context, meta)?) {
            Yaml::Map(entries) => entries,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    extra.retain(|(key, _)| key != "instance-id" && key != "local-hostname");
    let instance_id = match args.get("instance_id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None => derived_instance_id(&[
            &user_data,
            network_config.as_deref().unwrap_or_default().as_bytes(),
            vendor_data.as_deref().unwrap_or_default().as_bytes(),
            hostname.as_deref().unwrap_or_default().as_bytes(),
            yaml::render(&Yaml::Map(extra.clone())).as_bytes(),
        ]),
    };
    let mut meta = vec![("instance-id".to_owned(), Yaml::String(instance_id))];
    if let Some(hostname) = &hostname {
        meta.push(("local-hostname".to_owned(), Yaml::string(hostname.clone())));
    }
    meta.extend(extra);
    let mut files = vec![
        MediumFile {
            path: "meta-data".to_owned(),
            bytes: yaml::render(&Yaml::Map(meta)).into_bytes(),
            mode: 0o644,
        },
        MediumFile {
            path: "user-data".to_owned(),
            bytes: user_data,
            mode: media::file_mode(secret),
        },
    ];
    if let Some(config) = network_config {
        files.push(MediumFile {
            path: "network-config".to_owned(),
            bytes: config.into_bytes(),
            mode: 0o644,
        });
    }
    if let Some(vendor) = vendor_data {
        files.push(MediumFile {
            path: "vendor-data".to_owned(),
            bytes: vendor.into_bytes(),
            mode: media::file_mode(secret),
        });
    }
    media::write_iso(context, "cidata", files)
}

pub(crate) fn build_user_data(context: &mut BuildContext<'_>) -> Result<OutputRecord, BuildError> {
    let args = context.derivation.args.clone();
    let salt_context = context.derivation.name.clone();
    let bytes = render_user_data(context, &args, &salt_context)?;
    let info = context.store.put_blob(&bytes, context.derivation.secret)?;
    Ok(imgbuild_engine::file_output(
        &info,
        false,
        context.derivation.secret,
    ))
}
