//! Contextualization media end to end, checked by their real consumers: `blkid`,
//! `isoinfo`, `xorriso`, `cloud-init schema` / `cloud-init devel net-convert`, `bash` and
//! `dash` sourcing `context.sh`. Also reproducibility, per-row rebuilds, secrets and the
//! errors for bad inventories. The tools come from `scripts/setup.sh`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{build, imgbuild_run, scratch, workspace, write_files, Run};

/// Runs a consumer tool; a missing tool fails the test with the fix.
fn tool(program: &str, arguments: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{program}` ({error}): run scripts/setup.sh"))
}

fn tool_text(program: &str, arguments: &[&str]) -> String {
    let output = tool(program, arguments);
    assert!(
        output.status.success(),
        "`{program} {}` failed:\n{}{}",
        arguments.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn fleet() -> String {
    workspace()
        .join("examples/fleet.rhai")
        .display()
        .to_string()
}

/// `blkid -p` key=value pairs.
fn blkid(image: &Path) -> BTreeMap<String, String> {
    tool_text(
        "blkid",
        &["-p", "-o", "export", &image.display().to_string()],
    )
    .lines()
    .filter_map(|line| line.split_once('='))
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect()
}

/// Names `isoinfo -l` lists with `-R` or `-J`, as full paths (directories end in `/`).
fn isoinfo_names(image: &Path, extension: &str) -> Vec<String> {
    let listing = tool_text(
        "isoinfo",
        &[extension, "-l", "-i", &image.display().to_string()],
    );
    let mut names = Vec::new();
    let mut directory = String::new();
    for line in listing.lines() {
        if let Some(rest) = line.strip_prefix("Directory listing of ") {
            directory = rest.trim().to_owned();
            continue;
        }
        if line.len() < 10 || !line.starts_with(['-', 'd', 'l']) {
            continue;
        }
        // The name follows the `]` that closes the extent column.
        let Some((_, name)) = line.split_once("] ") else {
            continue;
        };
        let name = name.trim();
        let name = name.split(" -> ").next().unwrap_or(name);
        if name == "." || name == ".." {
            continue;
        }
        let suffix = if line.starts_with('d') { "/" } else { "" };
        names.push(format!("{directory}{name}{suffix}"));
    }
    names.sort();
    names
}

/// Extracts every file of an ISO with xorriso (Rock Ridge names and modes).
fn extract(image: &Path, into: &Path) {
    let into_text = into.display().to_string();
    tool_text(
        "xorriso",
        &[
            "-abort_on",
            "FAILURE",
            "-osirrox",
            "on",
            "-indev",
            &image.display().to_string(),
            "-extract",
            "/",
            &into_text,
        ],
    );
    // xorriso restores the modes on the medium (0400 for secrets); make them readable.
    let _ = Command::new("chmod")
        .args(["-R", "u+rwX", &into_text])
        .status();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn build_fleet(directory: &Path, extra: &[&str]) -> Run {
    let run = build(
        directory,
        &fleet(),
        Path::new("store"),
        Path::new("out"),
        extra,
    );
    run.success();
    run
}

#[test]
fn nocloud_seeds_are_read_correctly_by_blkid_isoinfo_xorriso_and_cloud_init() {
    let directory = scratch();
    build_fleet(directory.path(), &[]);
    for (vm, ip) in [
        ("web-1", Some("192.168.10.11")),
        ("db-1", Some("192.168.10.21")),
        ("build-1", None),
    ] {
        let image = directory.path().join(format!("out/{vm}.iso"));
        let size = std::fs::metadata(&image).expect("seed exists").len();
        assert!(size <= 100 * 1024, "{vm}: seed is {size} bytes");
        assert_eq!(size % 2048, 0);
        let identity = blkid(&image);
        assert_eq!(
            identity.get("TYPE").map(String::as_str),
            Some("iso9660"),
            "{identity:?}"
        );
        assert_eq!(
            identity.get("LABEL").map(String::as_str),
            Some("cidata"),
            "{identity:?}"
        );
        let mut expected = vec!["/meta-data", "/user-data"];
        if ip.is_some() {
            expected.insert(1, "/network-config");
        }
        assert_eq!(
            isoinfo_names(&image, "-R"),
            expected,
            "{vm}: Rock Ridge names"
        );
        assert_eq!(isoinfo_names(&image, "-J"), expected, "{vm}: Joliet names");
        let files = directory.path().join(format!("extracted-{vm}"));
        extract(&image, &files);
        let user_data = files.join("user-data");
        let schema = tool(
            "cloud-init",
            &["schema", "--config-file", &user_data.display().to_string()],
        );
        assert!(
            schema.status.success(),
            "{vm}: cloud-init rejects user-data:\n{}\n{}{}",
            read(&user_data),
            String::from_utf8_lossy(&schema.stdout),
            String::from_utf8_lossy(&schema.stderr)
        );
        let meta = read(&files.join("meta-data"));
        assert!(meta.starts_with("instance-id: iid-"), "{meta}");
        assert!(meta.contains(&format!("local-hostname: {vm}\n")), "{meta}");
        if let Some(ip) = ip {
            let rendered = directory.path().join(format!("networkd-{vm}"));
            let network_config = files.join("network-config");
            tool_text(
                "cloud-init",
                &[
                    "devel",
                    "net-convert",
                    "-p",
                    &network_config.display().to_string(),
                    "-k",
                    "yaml",
                    "-d",
                    &rendered.display().to_string(),
                    "-D",
                    "debian",
                    "-O",
                    "networkd",
                ],
            );
            let mut units = String::new();
            for entry in common::files_below(&rendered) {
                units.push_str(&read(&entry));
            }
            assert!(units.contains(&format!("Address={ip}/24")), "{units}");
            assert!(units.contains("Gateway=192.168.10.1"), "{units}");
            assert!(units.contains("DNS=192.168.10.1"), "{units}");
        }
    }
}

#[test]
fn media_are_byte_identical_across_stores_and_formats_have_their_labels() {
    let directory = scratch();
    for format in ["nocloud", "context", "config-drive"] {
        let argument = format!("format={format}");
        let mut images = Vec::new();
        for attempt in ["a", "b"] {
            let run = build(
                directory.path(),
                &fleet(),
                Path::new(&format!("store-{format}-{attempt}")),
                Path::new(&format!("out-{format}-{attempt}")),
                &["--arg", &argument],
            );
            run.success();
            images.push(
                std::fs::read(
                    directory
                        .path()
                        .join(format!("out-{format}-{attempt}/web-1.iso")),
                )
                .expect("medium"),
            );
        }
        assert!(images[0] == images[1], "{format}: two builds differ");
        let label = match format {
            "nocloud" => "cidata",
            "context" => "CONTEXT",
            _ => "config-2",
        };
        let image = directory.path().join(format!("out-{format}-a/web-1.iso"));
        assert_eq!(blkid(&image).get("LABEL").map(String::as_str), Some(label));
    }
}

#[test]
fn config_drive_has_the_openstack_layout() {
    let directory = scratch();
    build_fleet(directory.path(), &["--arg", "format=config-drive"]);
    let image = directory.path().join("out/web-1.iso");
    let expected = vec![
        "/openstack/",
        "/openstack/latest/",
        "/openstack/latest/meta_data.json",
        "/openstack/latest/network_data.json",
        "/openstack/latest/user_data",
    ];
    assert_eq!(isoinfo_names(&image, "-R"), expected);
    assert_eq!(isoinfo_names(&image, "-J"), expected);
    let files = directory.path().join("extracted");
    extract(&image, &files);
    let meta: serde_json::Value =
        serde_json::from_str(&read(&files.join("openstack/latest/meta_data.json"))).expect("JSON");
    assert_eq!(meta["hostname"], "web-1");
    assert!(
        meta["uuid"].as_str().is_some_and(|uuid| uuid.len() == 36),
        "{meta}"
    );
    assert!(meta["public_keys"]["key-0"]
        .as_str()
        .is_some_and(|key| key.starts_with("ssh-ed25519 ")));
    let network: serde_json::Value =
        serde_json::from_str(&read(&files.join("openstack/latest/network_data.json")))
            .expect("JSON");
    assert_eq!(network["networks"][0]["ip_address"], "192.168.10.11");
    assert_eq!(network["networks"][0]["netmask"], "255.255.255.0");
    assert_eq!(
        network["networks"][0]["routes"][0]["gateway"],
        "192.168.10.1"
    );
    let user_data = files.join("openstack/latest/user_data");
    tool_text(
        "cloud-init",
        &["schema", "--config-file", &user_data.display().to_string()],
    );
}

/// Values that break naive shell quoting.
const TRICKY: &[(&str, &str)] = &[
    ("QUOTE", "it's \"quoted\""),
    ("SPACES", "  leading and trailing  "),
    ("NEWLINES", "line one\nline two\n\nline four"),
    ("DOLLAR", "$HOME ${PATH} $(id) `id`"),
    ("BACKSLASH", "C:\\path\\ \\n"),
    ("EMPTY", ""),
    ("LOOKS_LIKE_ASSIGNMENT", "x\nY=1"),
    ("UNICODE", "café ☃"),
];

#[test]
fn context_sh_gives_back_exactly_the_values_in_bash_and_dash() {
    let directory = scratch();
    let variables: Vec<String> = TRICKY
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}: {}",
                serde_json::to_string(value).expect("JSON string")
            )
        })
        .collect();
    let recipe = format!(
        "#{{ vm: context::iso(#{{ hostname: \"vm-1\", username: \"ops\", password: \"correct horse\",\n\
         network: #{{ ip: \"10.1.2.3/24\", gateway: \"10.1.2.1\", dns: \"10.1.2.1\" }},\n\
         files: #{{ \"init.sh\": \"#!/bin/sh\\necho hi\\n\" }}, init_scripts: [\"init.sh\"],\n\
         variables: #{{ {} }} }}) }}\n",
        variables.join(", ")
    );
    write_files(directory.path(), &[("context.rhai", &recipe)]);
    build(
        directory.path(),
        "context.rhai",
        Path::new("store"),
        Path::new("out"),
        &[],
    )
    .success();
    let image = directory.path().join("out/vm.iso");
    assert_eq!(isoinfo_names(&image, "-R"), vec!["/context.sh", "/init.sh"]);
    let files = directory.path().join("extracted");
    extract(&image, &files);
    let context = files.join("context.sh");
    let text = read(&context);
    assert!(
        text.starts_with("# Context variables generated by OpenNebula\n"),
        "{text}"
    );
    assert!(
        !text.contains("correct horse"),
        "the plain-text password is on the medium"
    );
    let keys: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once("='").map(|(key, _)| key))
        .filter(|key| {
            key.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !key.is_empty()
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "keys are not sorted");
    for shell in ["bash", "dash"] {
        tool_text(shell, &["-n", &context.display().to_string()]);
        for (name, expected) in TRICKY.iter().copied().chain([
            ("SET_HOSTNAME", "vm-1"),
            ("USERNAME", "ops"),
            ("ETH0_IP", "10.1.2.3"),
            ("ETH0_MASK", "255.255.255.0"),
            ("ETH0_GATEWAY", "10.1.2.1"),
            ("ETH0_MAC", "02:00:0a:01:02:03"),
            ("INIT_SCRIPTS", "init.sh"),
        ]) {
            let script = format!(". '{}'; printf '%s' \"${name}\"", context.display());
            let output = tool(shell, &["-c", &script]);
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                expected,
                "{shell}: {name}"
            );
        }
        let script = format!(
            ". '{}'; printf '%s' \"$CRYPTED_PASSWORD\"",
            context.display()
        );
        let hash = String::from_utf8_lossy(&tool(shell, &["-c", &script]).stdout).into_owned();
        assert!(
            hash.starts_with("$6$"),
            "{shell}: CRYPTED_PASSWORD = {hash}"
        );
        let check = tool("python3", &["-c", "import crypt,sys; sys.exit(crypt.crypt('correct horse', sys.argv[1]) != sys.argv[1])", &hash]);
        assert!(
            check.status.success(),
            "the SHA-512 crypt hash does not verify: {hash}"
        );
    }
    let mode = std::fs::metadata(&image)
        .expect("medium")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "a medium holding a password must be owner-only"
    );
}

#[test]
fn changing_one_row_rebuilds_only_that_vms_medium() {
    let directory = scratch();
    let inventory = read(&workspace().join("examples/fleet.csv"));
    write_files(directory.path(), &[("vms.csv", &inventory)]);
    let argument = format!("inventory={}", directory.path().join("vms.csv").display());
    build_fleet(directory.path(), &["--arg", &argument]);
    let before = std::fs::read(directory.path().join("out/web-1.iso")).expect("medium");
    write_files(
        directory.path(),
        &[(
            "vms.csv",
            &inventory.replace("192.168.10.12,", "192.168.10.99,"),
        )],
    );
    let run = build_fleet(directory.path(), &["--arg", &argument, "--json"]);
    let started: Vec<String> = run
        .events()
        .into_iter()
        .filter(|event| event["event"] == "started")
        .filter_map(|event| event["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(started, vec!["web-2".to_owned()], "{}", run.stdout);
    assert_eq!(
        std::fs::read(directory.path().join("out/web-1.iso")).expect("medium"),
        before
    );
}

#[test]
fn seeds_with_passwords_keep_plain_text_off_the_medium_and_out_of_logs() {
    let directory = scratch();
    write_files(
        directory.path(),
        &[(
            "seed.rhai",
            "#{ vm: cloud_init::seed(#{ hostname: \"vm-1\", user: #{ name: \"ops\", password: \"hunter2-plain\", sudo: true },\n\
             scripts: #{ \"10-hello.sh\": \"#!/bin/sh\\necho hello\\n\" } }) }\n",
        )],
    );
    let run = build(
        directory.path(),
        "seed.rhai",
        Path::new("store"),
        Path::new("out"),
        &["--json"],
    );
    run.success();
    assert!(!run.stdout.contains("hunter2-plain") && !run.stderr.contains("hunter2-plain"));
    let image = directory.path().join("out/vm.iso");
    let bytes = std::fs::read(&image).expect("seed");
    assert!(
        !bytes.windows(13).any(|window| window == b"hunter2-plain"),
        "plain text on the medium"
    );
    assert_eq!(
        std::fs::metadata(&image)
            .expect("seed")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let graph = imgbuild_run(
        directory.path(),
        &["graph", "seed.rhai", "--format", "json"],
    );
    graph.success();
    assert!(
        !graph.stdout.contains("hunter2-plain"),
        "graph shows the password"
    );
    let files = directory.path().join("extracted");
    extract(&image, &files);
    let user_data = read(&files.join("user-data"));
    assert!(
        user_data.starts_with("Content-Type: multipart/mixed; boundary="),
        "{user_data}"
    );
    let parts = tool_text(
        "python3",
        &["-c", "import email,sys; m=email.message_from_string(open(sys.argv[1]).read()); print(' '.join(p.get_content_type() for p in m.walk() if not p.is_multipart()))", &files.join("user-data").display().to_string()],
    );
    assert_eq!(parts.trim(), "text/cloud-config text/x-shellscript");
    assert!(user_data.contains("hashed_passwd: \"$6$"), "{user_data}");
    for log in common::files_below(&directory.path().join("store/logs")) {
        assert!(
            !read(&log).contains("hunter2"),
            "{} holds the password",
            log.display()
        );
    }
}

#[test]
fn iso_image_carries_a_tree_with_exact_names_modes_and_links() {
    let directory = scratch();
    let long = "a-long-name-with-Mixed-Case-that-is-exactly-sixty-four-chars.txt";
    assert_eq!(long.len(), 64);
    let recipe = format!(
        "let t = tree(#{{ \"/docs/ReadMe.TXT\": text(\"r\\n\"), \"/docs/readme.txt\": text(\"l\\n\"),\n\
         \"/deep/a/b/c/d/e/f/g/h/i/leaf\": text(\"deep\\n\"), \"/{long}\": text(\"x\"),\n\
         \"/secret\": #{{ text: \"s\\n\", mode: 0o600 }}, \"/link\": #{{ symlink: \"docs/readme.txt\" }},\n\
         \"/bin/tool\": #{{ text: \"#!/bin/sh\\n\", mode: 0o755 }} }});\n\
         #{{ disc: iso::image(#{{ label: \"DATA_1\", tree: t, source_date_epoch: 1700000000 }}) }}\n"
    );
    write_files(directory.path(), &[("disc.rhai", &recipe)]);
    build(
        directory.path(),
        "disc.rhai",
        Path::new("store"),
        Path::new("out"),
        &[],
    )
    .success();
    let image = directory.path().join("out/disc.iso");
    assert_eq!(
        blkid(&image).get("LABEL").map(String::as_str),
        Some("DATA_1")
    );
    let names = isoinfo_names(&image, "-R");
    for expected in [
        "/docs/ReadMe.TXT",
        "/docs/readme.txt",
        "/deep/a/b/c/d/e/f/g/h/i/leaf",
        "/secret",
        "/link",
        "/bin/tool",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    assert!(names.contains(&format!("/{long}")), "{names:?}");
    let listing = tool_text(
        "xorriso",
        &[
            "-indev",
            &image.display().to_string(),
            "-lsdl",
            "/secret",
            "/link",
            "/bin/tool",
            "--",
        ],
    );
    assert!(listing.contains("-rw-------"), "{listing}");
    assert!(
        listing.contains("-> 'docs/readme.txt'") || listing.contains("-> docs/readme.txt"),
        "{listing}"
    );
    assert!(listing.contains("-rwxr-xr-x"), "{listing}");
    let files = directory.path().join("extracted");
    extract(&image, &files);
    assert_eq!(read(&files.join("deep/a/b/c/d/e/f/g/h/i/leaf")), "deep\n");
}

#[test]
fn iso_image_refuses_names_it_cannot_represent() {
    let directory = scratch();
    let long = "n".repeat(70);
    write_files(
        directory.path(),
        &[
            ("long.rhai", &format!("#{{ disc: iso::image(#{{ label: \"DATA\", tree: tree(#{{ \"/dir/{long}\": text(\"x\") }}) }}) }}\n")),
            ("colon.rhai", "#{ disc: iso::image(#{ label: \"DATA\", tree: tree(#{ \"/a:b\": text(\"x\") }) }) }\n"),
            ("label.rhai", "#{ disc: iso::image(#{ label: \"bad label!\", tree: tree(#{ \"/a\": text(\"x\") }) }) }\n"),
        ],
    );
    let run = build(
        directory.path(),
        "long.rhai",
        Path::new("store"),
        Path::new("out"),
        &[],
    );
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!("/dir/{long}")) && run.stderr.contains("64"),
        "{}",
        run.stderr
    );
    let run = build(
        directory.path(),
        "colon.rhai",
        Path::new("store"),
        Path::new("out"),
        &[],
    );
    run.expect_code(1);
    assert!(run.stderr.contains("a:b"), "{}", run.stderr);
    let run = imgbuild_run(directory.path(), &["eval", "label.rhai"]);
    run.expect_code(2);
    assert!(run.stderr.contains("bad label!"), "{}", run.stderr);
    assert!(!directory.path().join("out/disc.iso").exists());
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIfyhm6lbcFhh6fuPYv76s7QQEFtaWtD79Tl4BgtgJgT ops@example";

/// Evaluates the fleet recipe on an inventory; returns the failed run.
fn bad_inventory(file: &str, content: &[u8]) -> Run {
    let directory = scratch();
    std::fs::write(directory.path().join(file), content).expect("write inventory");
    let argument = format!("inventory={}", directory.path().join(file).display());
    let run = imgbuild_run(directory.path(), &["eval", &fleet(), "--arg", &argument]);
    run.expect_code(2);
    run
}

#[test]
fn bad_inventories_are_reported_with_the_file_and_row() {
    let header = "name,ip,prefix,gateway,dns,ssh_key\n";
    let good = format!("vm-1,10.0.0.1,24,10.0.0.254,10.0.0.254,{KEY}\n");
    let cases: Vec<(String, &str, &[&str])> = vec![
        (
            format!(
                "name,ip,prefix,gateway,dns,ssh_key,note\nvm-1,10.0.0.1,24,,,{KEY},\"unclosed\nvm-2,10.0.0.2,24,,,,x\nvm-3,10.0.0.3,24,,,,y\n"
            ),
            "unterminated quote",
            &["row 1", "`note` runs over several lines", "never closed"],
        ),
        (
            format!("name,ip,prefix,gateway,dns,ssh_key,ifs\nvm-1,10.0.0.1,24,,,{KEY},x\n"),
            "IFS column",
            &["ifs", "steer the shell"],
        ),
        (
            format!("{header}{good}vm-2,10.0.0.1,24,,,\n"),
            "duplicate address",
            &["row 2", "duplicate address `10.0.0.1`", "row 1"],
        ),
        (
            "name,ip,prefix,mac\nvm-1,10.0.0.1,24,52:54:00:00:00:01\nvm-2,10.0.0.2,24,52-54-00-00-00-01\n".to_owned(),
            "duplicate MAC",
            &["row 2", "duplicate MAC address `52:54:00:00:00:01`"],
        ),
        (
            format!("{header}vm-1,10.0.0.1,24,10.0.0.1,,\n"),
            "gateway is the VM",
            &["row 1", "the VM's own address"],
        ),
        (
            format!("{header}vm-1,10.0.0.1,24,10.0.1.254,,\n"),
            "gateway off the network",
            &["row 1", "outside the VM's network 10.0.0.1/24"],
        ),
        (
            format!("{header}vm-1,0.0.0.0,0,,,\n"),
            "0.0.0.0/0",
            &["row 1", "prefix length 0"],
        ),
        (
            "name,ip,prefix,mac\nvm-1,10.0.0.1,24,ff:ff:ff:ff:ff:ff\n".to_owned(),
            "broadcast MAC",
            &["row 1", "broadcast MAC"],
        ),
        (
            format!("{header}{good},10.0.0.2,24,,,\n"),
            "missing name",
            &["row 2", "`name` is empty"],
        ),
        (
            format!("{header}{good}vm-1,10.0.0.2,24,,,\n"),
            "duplicate",
            &["row 2", "duplicate VM name `vm-1`", "row 1"],
        ),
        (
            format!("{header}{good}vm_2,10.0.0.2,24,,,\n"),
            "bad host name",
            &["row 2", "vm_2", "host name"],
        ),
        (
            format!("{header}{good}vm-2,10.0.0.300,24,,,\n"),
            "bad ip",
            &["row 2", "10.0.0.300"],
        ),
        (
            format!("{header}{good}vm-2,10.0.0.2,33,,,\n"),
            "bad prefix",
            &["row 2", "33"],
        ),
        (
            format!("{header}{good}vm-2,10.0.0.2,24,,,ssh-ed25519 bm90IGEga2V5\n"),
            "bad key",
            &["row 2", "ssh_key"],
        ),
        (
            format!("{header}{good}vm-2,10.0.0.2,24,,,-----BEGIN OPENSSH PRIVATE KEY-----\n"),
            "private key",
            &["row 2", "PRIVATE"],
        ),
        (
            "name,ip,mac\nvm-1,,52:54:00:zz:00:01\n".to_owned(),
            "bad mac",
            &["row 1", "52:54:00:zz:00:01"],
        ),
        (
            "name,ip,my-var\nvm-1,,x\n".to_owned(),
            "bad column",
            &["my-var", "shell variable name"],
        ),
        (
            "ip,prefix\n10.0.0.1,24\n".to_owned(),
            "no name column",
            &["no `name` column"],
        ),
    ];
    for (content, what, expected) in cases {
        let run = bad_inventory("vms.csv", content.as_bytes());
        for needle in expected.iter().copied().chain(["vms.csv"]) {
            assert!(
                run.stderr.contains(needle),
                "{what}: `{needle}` not in:\n{}",
                run.stderr
            );
        }
    }
    let mut latin1 = format!("{header}{good}").into_bytes();
    latin1.extend_from_slice(b"caf\xe9,,,,,\n");
    let run = bad_inventory("vms.csv", &latin1);
    assert!(
        run.stderr.contains("vms.csv")
            && run.stderr.contains("line 3")
            && run.stderr.contains("UTF-8"),
        "{}",
        run.stderr
    );
    let run = bad_inventory(
        "vms.json",
        br#"[{"name": "vm-1", "ip": "10.0.0.1", "prefix": 99}]"#,
    );
    assert!(
        run.stderr.contains("vms.json")
            && run.stderr.contains("row 1")
            && run.stderr.contains("99"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_inventories_work_like_csv() {
    let directory = scratch();
    let inventory = serde_json::json!([
        { "name": "vm-1", "ip": "10.0.0.1", "prefix": 24, "gateway": "10.0.0.254", "dns": ["10.0.0.254", "9.9.9.9"], "ssh_key": KEY, "role": "web" },
        { "name": "vm-2", "ip": "", "ssh_key": KEY }
    ]);
    write_files(directory.path(), &[("vms.json", &inventory.to_string())]);
    let argument = format!("inventory={}", directory.path().join("vms.json").display());
    build_fleet(directory.path(), &["--arg", &argument]);
    for vm in ["vm-1", "vm-2"] {
        assert_eq!(
            blkid(&directory.path().join(format!("out/{vm}.iso")))
                .get("LABEL")
                .map(String::as_str),
            Some("cidata")
        );
    }
    // A `dns` array (documented for JSON) reaches the medium as two servers.
    let extracted = directory.path().join("vm-1");
    extract(&directory.path().join("out/vm-1.iso"), &extracted);
    let network = read(&extracted.join("network-config"));
    assert!(
        network.contains("10.0.0.254") && network.contains("9.9.9.9"),
        "{network}"
    );
}

#[test]
fn bad_media_arguments_point_at_the_call() {
    let directory = scratch();
    let cases: &[(&str, &[&str])] = &[
        ("cloud_init::seed(#{ user_data: #{ pacakges: [\"x\"] } })", &["pacakges", "did you mean `packages`"]),
        ("cloud_init::seed(#{ network_config: #{ version: 2, ethernets: #{ eth0: #{ routes: [#{ to: \"default\", via: \"10.0.0.1\" }] } } } })", &["to: default", "0.0.0.0/0"]),
        ("cloud_init::seed(#{ hostname: \"not_valid\" })", &["not_valid", "host name"]),
        ("context::iso(#{ variables: #{ \"1BAD\": \"x\" } })", &["1BAD", "shell variable name"]),
        ("context::iso(#{ variables: #{ PATH: \"/tmp/evil\" } })", &["PATH", "steer the shell"]),
        ("cloud_init::seed(#{ user: #{ name: \"ops\", shell: 5 } })", &["user.shell", "absolute path"]),
        ("cloud_init::seed(#{ user: #{ name: \"ops\", groups: [1, 2] } })", &["user.groups", "array of strings"]),
        ("cloud_init::seed(#{ user: #{ name: \"ops\", sudo: 1 } })", &["user.sudo", "sudoers rule"]),
        ("cloud_init::seed(#{ meta_data: #{ \"instance-id\": \"x\" } })", &["instance-id", "`instance_id` argument"]),
        ("context::iso(#{ variables: #{ ld_preload: \"/tmp/evil.so\" } })", &["ld_preload", "steer the shell"]),
        ("context::iso(#{ variables: #{ BASH_ENV: \"/tmp/x\" } })", &["BASH_ENV", "steer the shell"]),
        ("context::iso(#{ variables: #{ ROLE: \"web\\x00rm -rf /\" } })", &["ROLE", "NUL byte"]),
        ("context::iso(#{ files: #{ \"a/b\": \"x\" } })", &["a/b"]),
        ("context::iso(#{ ssh_keys: [\"not a key\"] })", &["not an SSH public key"]),
        ("context::iso(#{ crypted_password: \"plain\" })", &["not a crypt hash"]),
        ("config_drive::image(#{ uuid: \"123\" })", &["123", "UUID"]),
        ("cloud_init::seed(#{ network: #{ ip: \"10.0.0.1\", prefix: 24, mac: \"xx\" } })", &["xx", "MAC"]),
    ];
    for (index, (call, expected)) in cases.iter().enumerate() {
        let file = format!("bad{index}.rhai");
        write_files(
            directory.path(),
            &[(&file, &format!("let x = 1;\n#{{ m: {call} }}\n"))],
        );
        let run = imgbuild_run(directory.path(), &["eval", &file]);
        run.expect_code(2);
        for needle in expected.iter().copied().chain([file.as_str(), "2:"]) {
            assert!(
                run.stderr.contains(needle),
                "{call}: `{needle}` not in:\n{}",
                run.stderr
            );
        }
    }
}
