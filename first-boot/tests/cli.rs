//! The agent's command line on a fake machine: a fake `/sys/class/block` and `/dev`
//! holding ISO images made by imgbuild's writer, and a fake root. What a user sees when
//! the medium is missing, broken or not alone: a clear line, nothing partial applied,
//! the boot going on (`configure` exits 0 or 1, never hangs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use imgbuild_iso::{Attributes, Content, Directory, File, Label, Name, Node, Volume};

const AGENT: &str = env!("CARGO_BIN_EXE_imgbuild-first-boot");

fn iso(label: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut entries = BTreeMap::new();
    for (name, text) in files {
        entries.insert(
            Name::new(name).expect("name"),
            Node::File(File {
                content: Content::Bytes(text.as_bytes().to_vec()),
                attributes: Attributes::file(0o644),
            }),
        );
    }
    imgbuild_iso::to_vec(&Volume {
        label: Label::new(label).expect("label"),
        source_date_epoch: 1_700_000_000,
        root: Directory {
            entries,
            attributes: Attributes::directory(0o755),
        },
    })
    .expect("iso")
}

struct Machine {
    _directory: tempfile::TempDir,
    sys: PathBuf,
    dev: PathBuf,
    root: PathBuf,
}

fn machine(media: &[(&str, Vec<u8>)]) -> Machine {
    let directory = tempfile::tempdir().expect("tempdir");
    let sys = directory.path().join("sys");
    let dev = directory.path().join("dev");
    let root = directory.path().join("root");
    for path in [&sys, &dev, &root.join("etc")] {
        std::fs::create_dir_all(path).expect("mkdir");
    }
    std::fs::write(root.join("etc/hostname"), "image\n").expect("hostname");
    std::fs::write(root.join("etc/hosts"), "127.0.0.1 localhost\n").expect("hosts");
    for (name, bytes) in media {
        std::fs::create_dir_all(sys.join(name)).expect("sys");
        std::fs::write(
            sys.join(name).join("size"),
            format!("{}\n", bytes.len() / 512),
        )
        .expect("size");
        std::fs::write(dev.join(name), bytes).expect("device");
    }
    Machine {
        _directory: directory,
        sys,
        dev,
        root,
    }
}

fn configure(machine: &Machine) -> (i32, String) {
    let output = Command::new(AGENT)
        .arg("configure")
        .arg("--root")
        .arg(&machine.root)
        .arg("--sys")
        .arg(&machine.sys)
        .arg("--dev")
        .arg(&machine.dev)
        .args(["--wait", "0"])
        .output()
        .expect("run the agent");
    (
        output.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn hostname(root: &Path) -> String {
    std::fs::read_to_string(root.join("etc/hostname")).expect("hostname")
}

const META: &str = "instance-id: iid-1\nlocal-hostname: web-1\n";

#[test]
fn no_medium_is_said_and_nothing_is_configured() {
    let machine = machine(&[]);
    let (code, output) = configure(&machine);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("no medium"), "{output}");
    assert_eq!(hostname(&machine.root), "image\n");
}

#[test]
fn a_malformed_user_data_is_reported_with_its_line_and_nothing_of_it_applied() {
    let machine = machine(&[(
        "vdb",
        iso(
            "cidata",
            &[
                ("meta-data", META),
                (
                    "user-data",
                    "#cloud-config\nusers:\n  - name: ops\n    groups: [a, b\nwrite_files: []\n",
                ),
            ],
        ),
    )]);
    let (code, output) = configure(&machine);
    assert!(code == 0 || code == 1, "{output}");
    assert!(
        output.contains("user-data") && output.contains("line"),
        "{output}"
    );
    assert!(output.contains("nothing from it is applied"), "{output}");
    assert_eq!(
        hostname(&machine.root),
        "image\n",
        "the medium's hostname is not applied"
    );
}

#[test]
fn a_malformed_context_is_reported_with_its_line() {
    let machine = machine(&[(
        "sr0",
        iso(
            "CONTEXT",
            &[("context.sh", "SET_HOSTNAME='web-1'\nETH0_IP='10.0.0.5\n")],
        ),
    )]);
    let (_, output) = configure(&machine);
    assert!(
        output.contains("context.sh") && output.contains("line"),
        "{output}"
    );
    assert_eq!(hostname(&machine.root), "image\n");
}

#[test]
fn of_two_media_the_nocloud_seed_wins_and_the_other_is_named() {
    let machine = machine(&[
        (
            "sr0",
            iso(
                "CONTEXT",
                &[("context.sh", "SET_HOSTNAME='from-context'\n")],
            ),
        ),
        (
            "vdb",
            iso(
                "cidata",
                &[("meta-data", META), ("user-data", "#cloud-config\n{}\n")],
            ),
        ),
    ]);
    let (code, output) = configure(&machine);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("ignoring") && output.contains("CONTEXT"),
        "{output}"
    );
    assert_eq!(hostname(&machine.root), "web-1\n");
}
