//! Each reader on inline fixtures (files in memory): what other producers write
//! (cloud-localds, Nova, OpenNebula), the formats' corners, and malformed input that
//! must be an error naming the file and line.

use std::collections::BTreeMap;

use imgbuild_first_boot::media::{self, context, MediaError};
use imgbuild_first_boot::model::{Instance, Password, Source, When};

fn medium(files: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
        .collect()
}

fn read(kind: Source, files: &[(&str, &str)]) -> Result<Instance, MediaError> {
    media::read_medium(kind, &mut medium(files))
}

fn nocloud(user_data: &str) -> Instance {
    read(
        Source::NoCloud,
        &[
            ("meta-data", "instance-id: i-1\n"),
            ("user-data", user_data),
        ],
    )
    .expect("reads")
}

#[test]
fn cloud_localds_seed() {
    let instance = read(
        Source::NoCloud,
        &[
            (
                "meta-data",
                "{\"instance-id\": \"iid-local01\", \"local-hostname\": \"vm-1\"}",
            ),
            (
                "user-data",
                "#cloud-config\nhostname: short\nfqdn: vm-1.example.org\nssh_authorized_keys:\n  - ssh-ed25519 AAAA top@x\npassword: secret\nchpasswd: { expire: false }\n",
            ),
        ],
    )
    .expect("reads");
    assert_eq!(instance.instance_id, "iid-local01");
    assert_eq!(instance.hostname.as_deref(), Some("vm-1.example.org"));
    assert_eq!(instance.users.len(), 1);
    assert_eq!(instance.users[0].name, "root");
    assert_eq!(instance.users[0].ssh_keys, ["ssh-ed25519 AAAA top@x"]);
    assert_eq!(
        instance.users[0].password,
        Some(Password::Plain("secret".to_owned()))
    );
}

#[test]
fn users_in_all_their_forms() {
    let instance = nocloud(
        "#cloud-config\nusers:\n  - default\n  - name: ops\n    groups: adm, sudo\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    hashed_passwd: $6$salt$hash\n    lock_passwd: no\n    ssh_authorized_keys: [ssh-ed25519 AAAA ops]\n    shell: /bin/zsh\n    gecos: Operator\n  - name: limited\n    sudo: ALL=(ALL) ALL\n    groups: [a, b]\n    uid: 1234\n  - plain\nssh_authorized_keys: [ssh-rsa BBBB top]\nchpasswd:\n  users:\n    - {name: plain, password: pw, type: text}\n    - {name: root, password: RANDOM}\n",
    );
    let [ops, limited, plain] = &instance.users[..] else {
        panic!("{:?}", instance.users);
    };
    assert_eq!(ops.name, "ops");
    assert_eq!(ops.groups, ["adm", "sudo"]);
    assert!(ops.sudo);
    assert!(!ops.lock_password);
    assert_eq!(
        ops.password,
        Some(Password::Hash("$6$salt$hash".to_owned()))
    );
    assert_eq!(ops.ssh_keys, ["ssh-ed25519 AAAA ops", "ssh-rsa BBBB top"]);
    assert_eq!(ops.shell.as_deref(), Some("/bin/zsh"));
    assert_eq!(ops.gecos.as_deref(), Some("Operator"));
    assert!(!limited.sudo, "a narrower rule is not widened");
    assert!(limited.lock_password);
    assert_eq!(limited.groups, ["a", "b"]);
    assert_eq!(plain.password, Some(Password::Plain("pw".to_owned())));
    let warnings = instance.warnings.join("\n");
    for expected in ["ALL=(ALL) ALL", "`uid`", "random password"] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }
}

#[test]
fn files_scripts_and_unknown_keys() {
    let instance = nocloud(
        "#cloud-config\npackage_update: false\npackages: [nginx]\nwrite_files:\n  - path: /etc/a\n    content: hello\n    permissions: 0600\n    owner: ops:ops\n  - path: /etc/b\n    content: aGk=\n    encoding: b64\n    append: true\n  - path: /etc/c\n    content: H4sIAAAAAAAAA8tIzcnJ5wIAIDA6NgYAAAA=\n    encoding: gz+b64\n    permissions: '0755'\nruncmd:\n  - [sh, -c, \"echo 'a b' > /x\"]\n  - touch /y\nbootcmd:\n  - echo boot\n",
    );
    let modes: Vec<(String, Vec<u8>, u32)> = instance
        .files
        .iter()
        .map(|file| (file.path.clone(), file.content.clone(), file.mode))
        .collect();
    assert_eq!(
        modes,
        [
            ("/etc/a".to_owned(), b"hello".to_vec(), 0o600),
            ("/etc/b".to_owned(), b"hi".to_vec(), 0o644),
            ("/etc/c".to_owned(), b"hello\n".to_vec(), 0o755),
        ]
    );
    assert_eq!(instance.files[0].owner.as_deref(), Some("ops:ops"));
    assert!(instance.files[1].append);
    let scripts: Vec<(&str, When)> = instance
        .scripts
        .iter()
        .map(|script| (script.name.as_str(), script.when))
        .collect();
    assert_eq!(
        scripts,
        [("bootcmd", When::EveryBoot), ("runcmd", When::PerInstance)]
    );
    assert_eq!(
        String::from_utf8_lossy(&instance.scripts[1].body),
        "#!/bin/sh\nsh -c 'echo '\\''a b'\\'' > /x'\ntouch /y\n"
    );
    assert_eq!(instance.warnings.len(), 1, "{:?}", instance.warnings);
    assert!(instance.warnings[0].contains("`packages`"));
}

#[test]
fn shell_script_and_multipart_user_data() {
    let script = nocloud("#!/bin/sh\necho hi\n");
    assert_eq!(script.scripts.len(), 1);
    assert_eq!(script.scripts[0].name, "user-data");
    let mime = "Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n--XX\nContent-Type: text/cloud-config; charset=\"utf-8\"\n\n#cloud-config\nruncmd: [echo one]\nwrite_files: [{path: /a, content: a}]\n--XX\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=\"10-hello.sh\"\n\n#!/bin/sh\necho hello\n--XX\nContent-Type: text/x-shellscript-per-boot\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"boot.sh\"\n\nIyEvYmluL3NoCmVjaG8gYm9vdAo=\n--XX\nContent-Type: text/cloud-config\n\nwrite_files: [{path: /b, content: b}]\n--XX--\n";
    let instance = nocloud(mime);
    let names: Vec<(&str, When)> = instance
        .scripts
        .iter()
        .map(|script| (script.name.as_str(), script.when))
        .collect();
    assert_eq!(
        names,
        [
            ("10-hello.sh", When::PerInstance),
            ("boot.sh", When::EveryBoot),
            ("runcmd", When::PerInstance)
        ]
    );
    assert_eq!(instance.scripts[0].body, b"#!/bin/sh\necho hello\n");
    assert_eq!(instance.scripts[1].body, b"#!/bin/sh\necho boot\n");
    let paths: Vec<&str> = instance
        .files
        .iter()
        .map(|file| file.path.as_str())
        .collect();
    assert_eq!(paths, ["/a", "/b"]);
}

#[test]
fn malformed_documents_name_file_and_line() {
    let error = read(
        Source::NoCloud,
        &[
            ("meta-data", "instance-id: x\n"),
            (
                "user-data",
                "#cloud-config\nusers:\n  - name: a\n  bad: [\n",
            ),
        ],
    )
    .expect_err("malformed");
    assert!(
        matches!(&error, MediaError::Syntax { file, line: Some(_), .. } if file == "user-data"),
        "{error}"
    );
    let error = read(Source::NoCloud, &[("meta-data", "a: b: c\n")]).expect_err("malformed");
    assert!(
        error.to_string().starts_with("meta-data, line 1"),
        "{error}"
    );
    let error = read(
        Source::ConfigDrive,
        &[("openstack/latest/meta_data.json", "{\n\"uuid\": \n")],
    )
    .expect_err("malformed");
    assert!(error.to_string().contains("line"), "{error}");
    assert!(
        read(Source::NoCloud, &[("user-data", "")]).is_err(),
        "meta-data is required"
    );
    for bad in [
        "#cloud-config\nwrite_files: [{path: relative, content: x}]\n",
        "#cloud-config\nwrite_files: [{path: /x, encoding: rot13}]\n",
        "#cloud-config\nusers: [{groups: a}]\n",
        "#include http://example.invalid/x\n",
        "Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\n\n#!/bin/sh\n",
    ] {
        let result = read(
            Source::NoCloud,
            &[("meta-data", "instance-id: x\n"), ("user-data", bad)],
        );
        assert!(result.is_err(), "{bad}");
    }
}

#[test]
fn network_config_versions() {
    let mut v2 = read(
        Source::NoCloud,
        &[
            ("meta-data", "instance-id: x\n"),
            ("user-data", "#cloud-config\n"),
            (
                "network-config",
                "network:\n  version: 2\n  ethernets:\n    id0:\n      match: {macaddress: \"52:54:00:AB:00:01\"}\n      set-name: eth0\n      addresses: [192.168.1.10/24, \"2001:db8::5/64\"]\n      routes:\n        - {to: default, via: 192.168.1.1}\n        - {to: \"::/0\", via: \"2001:db8::1\"}\n        - {to: 10.0.0.0/8, via: 192.168.1.254}\n      nameservers: {addresses: [192.168.1.1], search: [example.org]}\n      mtu: 1400\n    ens4: {dhcp4: true}\n",
            ),
        ],
    )
    .expect("v2");
    // Interfaces come in id order (ens4, id0).
    v2.interfaces.swap(0, 1);
    let eth0 = &v2.interfaces[0];
    assert_eq!(eth0.name.as_deref(), Some("eth0"));
    assert_eq!(eth0.mac.as_deref(), Some("52:54:00:ab:00:01"));
    assert_eq!(eth0.addresses, ["192.168.1.10/24", "2001:db8::5/64"]);
    assert_eq!(eth0.gateway4.as_deref(), Some("192.168.1.1"));
    assert_eq!(eth0.gateway6.as_deref(), Some("2001:db8::1"));
    assert_eq!(eth0.nameservers, ["192.168.1.1"]);
    assert_eq!(eth0.search, ["example.org"]);
    assert_eq!(eth0.mtu, Some(1400));
    assert!(v2.interfaces[1].dhcp4);
    assert_eq!(v2.interfaces[1].name.as_deref(), Some("ens4"));
    assert!(v2.warnings.iter().any(|w| w.contains("10.0.0.0/8")));
    let v1 = read(
        Source::NoCloud,
        &[
            ("meta-data", "instance-id: x\n"),
            ("user-data", ""),
            (
                "network-config",
                "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    mac_address: 52:54:00:00:00:02\n    subnets:\n      - {type: static, address: 10.0.0.5, netmask: 255.255.255.0, gateway: 10.0.0.1, dns_nameservers: [10.0.0.1]}\n  - type: physical\n    name: eth1\n    subnets: [{type: dhcp}]\n  - {type: nameserver, address: [9.9.9.9], search: [lan]}\n",
            ),
        ],
    )
    .expect("v1");
    assert_eq!(v1.interfaces[0].addresses, ["10.0.0.5/24"]);
    assert_eq!(v1.interfaces[0].gateway4.as_deref(), Some("10.0.0.1"));
    assert_eq!(v1.interfaces[0].nameservers, ["10.0.0.1"]);
    assert!(v1.interfaces[1].dhcp4);
    assert_eq!(v1.nameservers, ["9.9.9.9"]);
}

#[test]
fn nova_config_drive() {
    let instance = read(
        Source::ConfigDrive,
        &[
            ("openstack/2018-08-27/meta_data.json", "{}"),
            (
                "openstack/latest/meta_data.json",
                "{\"uuid\": \"7f1c2e4a-0000-4000-8000-000000000001\", \"hostname\": \"vm-0001.novalocal\", \"name\": \"vm-0001\", \"public_keys\": {\"ops\": \"ssh-ed25519 AAAA ops\"}, \"files\": [{\"path\": \"/etc/motd\", \"content_path\": \"/content/0000\"}]}",
            ),
            ("openstack/content/0000", "hello\n"),
            ("openstack/latest/user_data", "#cloud-config\nusers: [{name: ops}]\n"),
            (
                "openstack/latest/network_data.json",
                "{\"links\": [{\"id\": \"tap1\", \"type\": \"phy\", \"ethernet_mac_address\": \"FA:16:3E:00:00:01\", \"mtu\": 1450}, {\"id\": \"tap2\", \"type\": \"phy\", \"ethernet_mac_address\": \"fa:16:3e:00:00:02\"}], \"networks\": [{\"id\": \"n0\", \"type\": \"ipv4\", \"link\": \"tap1\", \"ip_address\": \"192.168.1.10\", \"netmask\": \"255.255.255.0\", \"routes\": [{\"network\": \"0.0.0.0\", \"netmask\": \"0.0.0.0\", \"gateway\": \"192.168.1.1\"}]}, {\"id\": \"n1\", \"type\": \"ipv4_dhcp\", \"link\": \"tap2\"}], \"services\": [{\"type\": \"dns\", \"address\": \"192.168.1.1\"}]}",
            ),
        ],
    )
    .expect("reads");
    assert_eq!(instance.instance_id, "7f1c2e4a-0000-4000-8000-000000000001");
    assert_eq!(instance.hostname.as_deref(), Some("vm-0001.novalocal"));
    assert_eq!(instance.users[0].name, "ops");
    assert_eq!(instance.users[0].ssh_keys, ["ssh-ed25519 AAAA ops"]);
    assert_eq!(instance.files[0].path, "/etc/motd");
    assert_eq!(instance.files[0].content, b"hello\n");
    assert_eq!(
        instance.interfaces[0].mac.as_deref(),
        Some("fa:16:3e:00:00:01")
    );
    assert_eq!(instance.interfaces[0].addresses, ["192.168.1.10/24"]);
    assert_eq!(
        instance.interfaces[0].gateway4.as_deref(),
        Some("192.168.1.1")
    );
    assert_eq!(instance.interfaces[0].mtu, Some(1450));
    assert!(instance.interfaces[1].dhcp4);
    assert_eq!(instance.nameservers, ["192.168.1.1"]);
    let error = read(
        Source::ConfigDrive,
        &[("openstack/latest/meta_data.json", "{}")],
    )
    .expect_err("uuid is required");
    assert!(error.to_string().contains("uuid"), "{error}");
}

#[test]
fn context_sh_quoting() {
    let variables = context::parse(
        "# Context variables generated by OpenNebula\nA=''\nB='it'\\''s $HOME `x`\nline2\\'\nexport C=\"q\\\"d\"\nD=bare # comment\n",
    )
    .expect("parses");
    assert_eq!(variables["A"], "");
    assert_eq!(variables["B"], "it's $HOME `x`\nline2\\");
    assert_eq!(variables["C"], "q\"d");
    assert_eq!(variables["D"], "bare");
    for (bad, line) in [
        ("A='ok'\nB='open\n\n", 2),
        ("A='x'\nB=$(reboot)\n", 2),
        ("A='x'\n\nnot an assignment\n", 3),
        ("A='x' B='y'\n", 1),
    ] {
        match context::parse(bad) {
            Err(MediaError::Syntax {
                line: Some(found), ..
            }) => assert_eq!(found, line, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn opennebula_context() {
    let context_sh = "# Context variables generated by OpenNebula\nDNS='8.8.8.8'\nETH0_DNS='172.20.0.1'\nETH0_GATEWAY='172.20.0.1'\nETH0_IP='172.20.0.19'\nETH0_MAC='02:00:AC:14:00:13'\nETH0_MASK='255.255.0.0'\nETH0_METHOD='static'\nETH1_METHOD='dhcp'\nETH1_MAC='02:00:00:00:00:02'\nINIT_SCRIPTS='a.sh b.sh'\nNETWORK='YES'\nPASSWORD_BASE64='cGFzcw=='\nSET_HOSTNAME='\"one-apps-11114\"'\nSSH_PUBLIC_KEY='ssh-rsa AAAA one\nssh-ed25519 BBBB two'\nSTART_SCRIPT='echo start'\nTIMEZONE='UTC'\nUSERNAME='ops'\nUSER_DATA='#cloud-config\nwrite_files: [{path: /etc/x, content: y}]\n'\n";
    let files = [
        ("context.sh", context_sh),
        ("a.sh", "#!/bin/sh\necho a\n"),
        ("b.sh", "echo b\n"),
    ];
    let instance = read(Source::OpenNebula, &files).expect("reads");
    assert_eq!(instance.instance_id.len(), 64);
    assert_eq!(instance.hostname.as_deref(), Some("one-apps-11114"));
    assert_eq!(instance.nameservers, ["8.8.8.8"]);
    let eth0 = &instance.interfaces[0];
    assert_eq!(eth0.addresses, ["172.20.0.19/16"]);
    assert_eq!(eth0.mac.as_deref(), Some("02:00:ac:14:00:13"));
    assert_eq!(eth0.gateway4.as_deref(), Some("172.20.0.1"));
    assert_eq!(eth0.nameservers, ["172.20.0.1"]);
    assert!(instance.interfaces[1].dhcp4);
    let user = &instance.users[0];
    assert_eq!(user.name, "ops");
    assert!(user.sudo);
    assert_eq!(user.password, Some(Password::Plain("pass".to_owned())));
    assert_eq!(user.ssh_keys, ["ssh-rsa AAAA one", "ssh-ed25519 BBBB two"]);
    let names: Vec<&str> = instance.scripts.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["START_SCRIPT", "a.sh", "b.sh"]);
    assert_eq!(instance.files[0].path, "/etc/x");
    assert!(instance.warnings.iter().any(|w| w.contains("TIMEZONE")));
    let mut changed = files;
    changed[0].1 = "X='1'\n";
    let other = read(Source::OpenNebula, &changed).expect("reads");
    assert_ne!(
        other.instance_id, instance.instance_id,
        "identity is the digest"
    );
    assert!(other.users.is_empty() && other.scripts.is_empty());
    let missing = read(
        Source::OpenNebula,
        &[("context.sh", "INIT_SCRIPTS='gone.sh'\n")],
    );
    assert!(matches!(missing, Err(MediaError::Missing { file }) if file == "gone.sh"));
}
