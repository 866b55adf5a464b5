//! What a medium asks of an instance, whichever medium it came from: the one type the
//! readers ([`crate::media`]) produce and the appliers ([`crate::apply`]) consume.
//!
//! Everything is plain data, checked when read: a reader that cannot make sense of its
//! medium returns an error naming the file and line and the agent applies nothing.

/// Which kind of medium an [`Instance`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// cloud-init NoCloud (`cidata` / `CIDATA`): meta-data, user-data, network-config.
    NoCloud,
    /// OpenNebula (`CONTEXT`): context.sh.
    OpenNebula,
    /// OpenStack config drive (`config-2` / `CONFIG-2`): openstack/latest/*.json.
    ConfigDrive,
    /// No medium: only the image's own first-boot and every-boot work (instance id
    /// [`NO_MEDIUM`]).
    None,
}

/// The instance id of a boot without a medium.
pub const NO_MEDIUM: &str = "no-medium";

impl Instance {
    /// The instance of a boot without a medium: nothing to configure, the image's own
    /// scripts to run.
    pub fn without_medium() -> Instance {
        Instance {
            source: Source::None,
            instance_id: NO_MEDIUM.to_owned(),
            hostname: None,
            interfaces: Vec::new(),
            nameservers: Vec::new(),
            users: Vec::new(),
            files: Vec::new(),
            scripts: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Everything the agent applies for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The medium kind.
    pub source: Source,
    /// The instance identity: per-instance work runs again only when it changes.
    /// NoCloud: meta-data `instance-id`; config-2: `uuid`; OpenNebula (which has none):
    /// a digest of context.sh.
    pub instance_id: String,
    /// Host name (short or fully qualified), if the medium sets one.
    pub hostname: Option<String>,
    /// Network interfaces to configure; empty = leave the image's own configuration.
    pub interfaces: Vec<Interface>,
    /// Name servers for every interface (in addition to per-interface ones).
    pub nameservers: Vec<String>,
    /// Users to create or update.
    pub users: Vec<User>,
    /// Files to write.
    pub files: Vec<File>,
    /// Scripts from the medium, in the order they run.
    pub scripts: Vec<Script>,
    /// What the reader understood but will not apply (unknown cloud-config keys,
    /// unsupported variables…): for the agent's report, never a reason to stop.
    pub warnings: Vec<String>,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// Interface name as the medium gives it (`eth0`, `ens3`); informational when `mac`
    /// is set.
    pub name: Option<String>,
    /// MAC address (lower case, colon separated) to match the interface by.
    pub mac: Option<String>,
    /// DHCP for IPv4.
    pub dhcp4: bool,
    /// Static addresses in CIDR form (`192.168.1.10/24`, `2001:db8::5/64`).
    pub addresses: Vec<String>,
    /// IPv4 default gateway.
    pub gateway4: Option<String>,
    /// IPv6 default gateway.
    pub gateway6: Option<String>,
    /// Name servers for this interface.
    pub nameservers: Vec<String>,
    /// Search domains.
    pub search: Vec<String>,
    /// MTU, if set.
    pub mtu: Option<u32>,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Supplementary groups (created when missing).
    pub groups: Vec<String>,
    /// Passwordless sudo (`/etc/sudoers.d/`).
    pub sudo: bool,
    /// The password to set, if any.
    pub password: Option<Password>,
    /// Lock the password (no password login).
    pub lock_password: bool,
    /// SSH public keys for `~/.ssh/authorized_keys`.
    pub ssh_keys: Vec<String>,
    /// Login shell (`/bin/bash` when creating and unset).
    pub shell: Option<String>,
    /// GECOS.
    pub gecos: Option<String>,
}

/// A password as the medium gives it.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// A crypt(3) hash (`$6$...`, `$y$...`): what imgbuild's media carry.
    Hash(String),
    /// Plain text (other producers' media): hashed by the image's `chpasswd`.
    Plain(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Password::Hash(_) => "Password::Hash(<hidden>)",
            Password::Plain(_) => "Password::Plain(<hidden>)",
        })
    }
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute path in the instance.
    pub path: String,
    /// Contents (already decoded: base64, gzip... are the reader's business).
    pub content: Vec<u8>,
    /// Permission bits (0o644 when the medium says nothing).
    pub mode: u32,
    /// `user:group` or `user`, root when `None`.
    pub owner: Option<String>,
    /// Append instead of replace.
    pub append: bool,
}

/// When a script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Once per instance identity.
    PerInstance,
    /// On every boot.
    EveryBoot,
}

/// One script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// A name for reports (`runcmd`, `user-data`, `START_SCRIPT`, `init.sh`).
    pub name: String,
    /// The program: a file with a `#!` line, or shell text (run by `/bin/sh`).
    pub body: Vec<u8>,
    /// When it runs.
    pub when: When,
}
