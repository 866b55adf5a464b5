//! `disk::image` formats and partition layouts, checked by the real tools: every format
//! from one graph (`formats: [...]`) compared with the raw image by `qemu-img compare`
//! and `qemu-img check`, built twice for the same bytes, with golden digests for vmdk
//! and vhd; declared partitions (swap, ext4 with contents, an empty one, XBOOTLDR) seen
//! by `sfdisk`, `blkid`, `e2fsck`, `fsck.fat` and `mdir`; and the layouts and
//! sizes that cannot work, named (a missing tool: builtins/tests/builders.rs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{imgbuild, require_mke2fs, run_tool, scratch, sha256, unwrapped, write_files};
use imgbuild_test_support::{require, require_tool};

/// A root tree that looks bootable to `disk::image` (a loader, a kernel and its
/// initramfs; none of them real).
const TREE: &str = r##"let root = tree("root", #{
    "/etc/motd": text("motd", "hello from a disk image\n"),
    "/usr/lib/systemd/boot/efi/systemd-bootx64.efi": text("loader", "not really an EFI binary\n"),
    "/boot/vmlinuz-6.1.0-28-cloud-amd64": text("kernel", "not really a kernel\n"),
    "/boot/initrd.img-6.1.0-28-cloud-amd64": text("initrd", "not really an initramfs\n"),
});
let site = tree("site", #{ "/www/index.html": text("index", "<h1>srv</h1>\n") });
"##;

fn build(directory: &Path, store: &str, out: &str) -> (i32, String, String) {
    build_with(directory, store, out, &["--json"])
}

/// The human-readable build: errors on stderr, pointing at recipe lines.
fn build_plain(directory: &Path) -> (i32, String, String) {
    build_with(directory, "store", "result", &[])
}

fn build_with(directory: &Path, store: &str, out: &str, extra: &[&str]) -> (i32, String, String) {
    let output = imgbuild(directory)
        .args(["build", "recipe.rhai", "--store", store, "-o", out])
        .args(extra)
        .output()
        .expect("imgbuild");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Copies `size` bytes at `start` of `image` into a file of their own.
fn extract(image: &Path, start: u64, size: u64, to: &Path) -> PathBuf {
    run_tool(
        Command::new("dd")
            .arg(format!("if={}", image.display()))
            .arg(format!("of={}", to.display()))
            .args(["bs=1M", "conv=sparse", "status=none"])
            .arg(format!("skip={}", start >> 20))
            .arg(format!("count={}", size >> 20)),
    );
    to.to_path_buf()
}

#[test]
fn every_format_from_one_graph_matches_the_raw_image_and_is_reproducible() {
    require!(require_mke2fs());
    require!(require_tool("qemu-img"));
    let work = scratch();
    let directory = work.path();
    write_files(
        directory,
        &[(
            "recipe.rhai",
            &format!(
                "{TREE}let one = #{{ root: root, name: \"golden\", boot: \"none\", size: \"64M\", source_date_epoch: 1700000000 }};
                #{{ image: disk::image(one + #{{ formats: [\"raw\", \"qcow2\", \"vmdk\", \"vhd\"] }}),
                    alone: #{{ vmdk: disk::image(one + #{{ format: \"vmdk\" }}), vhd: disk::image(one + #{{ format: \"vhd\" }}) }} }}\n"
            ),
        )],
    );
    // With --json, a failure's story is in the events on stdout.
    let (code, stdout, stderr) = build(directory, "store-a", "result-a");
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    let (code, second, stderr) = build(directory, "store-b", "result-b");
    assert_eq!(code, 0, "{stderr}\n{second}");
    let result = |out: &str, format: &str| directory.join(format!("{out}/image.{format}"));
    for format in ["raw", "qcow2", "vmdk", "vhd"] {
        assert_eq!(
            sha256(&result("result-a", format)),
            sha256(&result("result-b", format)),
            "{format}: two cold builds"
        );
    }
    // One format alone assembles the raw image itself: the same bytes.
    for format in ["vmdk", "vhd"] {
        assert_eq!(
            sha256(&result("result-a", format)),
            sha256(&directory.join(format!("result-a/alone.{format}"))),
            "{format} alone and {format} from the shared raw image"
        );
    }
    let raw = result("result-a", "raw");
    for (format, driver) in [("qcow2", "qcow2"), ("vmdk", "vmdk"), ("vhd", "vpc")] {
        let image = result("result-a", format);
        run_tool(
            Command::new("qemu-img")
                .args(["compare", "-q", "-f", driver, "-F", "raw"])
                .arg(&image)
                .arg(&raw),
        );
        if format != "vhd" {
            // qemu-img has no check for vpc.
            run_tool(
                Command::new("qemu-img")
                    .args(["check", "-q", "-f", driver])
                    .arg(&image),
            );
        }
        let info: serde_json::Value = serde_json::from_str(&run_tool(
            Command::new("qemu-img")
                .args(["info", "--output=json", "-f", driver])
                .arg(&image),
        ))
        .expect("json");
        assert_eq!(info["virtual-size"], 64 << 20, "{format}: {info}");
    }
    let vmdk = std::fs::read(result("result-a", "vmdk")).expect("vmdk");
    let descriptor = String::from_utf8_lossy(&vmdk[512..1536]);
    assert!(
        descriptor.contains("createType=\"streamOptimized\"")
            && descriptor.contains("\"golden.vmdk\""),
        "{descriptor}"
    );
    // A fixed VHD: the raw bytes, then the footer.
    let vhd = std::fs::metadata(result("result-a", "vhd"))
        .expect("vhd")
        .len();
    assert_eq!(vhd, (64 << 20) + 512);

    // Golden output digests of disk_vmdk and disk_vhd (listed in builtins/tests/golden.rs
    // as covered here), with qemu-img 10.0 as scripts/setup.sh installs. A change in
    // what the builders write changes them: bump the kind's version in
    // builtins/src/disk/mod.rs and record the new digests.
    let events = common::json_lines(&stdout);
    let digest = |name: &str| {
        events
            .iter()
            .find(|event| event["event"] == "output" && event["name"] == name)
            .and_then(|event| event["output"].as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(
        digest("image.vmdk"),
        "efef1c28c945183f68f4e948def68ecf4f5aa61746d8c914e8fec49c426b6e8c",
        "disk_vmdk's output changed"
    );
    assert_eq!(
        digest("image.vhd"),
        "966a214188c447439cad68d8f9eaaaaaf0a6d26330a9cea1f6704f9ed79fe630",
        "disk_vhd's output changed"
    );
}

#[test]
fn declared_partitions_are_where_the_table_says_and_pass_their_checks() {
    require!(require_mke2fs());
    require!(require_tool("sfdisk"));
    require!(require_tool("e2fsck"));
    require!(require_tool("debugfs"));
    require!(require_tool("blkid"));
    require!(require_tool("fsck.fat"));
    require!(require_tool("mdir"));
    require!(require_tool("mkfs.vfat"));
    let work = scratch();
    let directory = work.path();
    write_files(
        directory,
        &[(
            "recipe.rhai",
            &format!(
                "{TREE}#{{ disk: disk::image(#{{ root: root, source_date_epoch: 1700000000,
                    kernel_cmdline: \"console=ttyS0 quiet\",
                    partitions: [
                        #{{ type: \"xbootldr\", size: \"64M\" }},
                        #{{ type: \"swap\", size: \"32M\" }},
                        #{{ type: \"srv\", size: \"16M\", contents: site }},
                        #{{ type: \"linux\", name: \"data\", size: \"16M\", start: \"256M\" }},
                    ] }}) }}\n"
            ),
        )],
    );
    let (code, _, stderr) = build(directory, "store", "result");
    assert_eq!(code, 0, "{stderr}");
    let raw = directory.join("result/disk.raw");
    run_tool(Command::new("sfdisk").arg("--verify").arg(&raw));
    let table: serde_json::Value =
        serde_json::from_str(&run_tool(Command::new("sfdisk").arg("--json").arg(&raw)))
            .expect("json");
    let partitions = table["partitiontable"]["partitions"]
        .as_array()
        .expect("partitions")
        .clone();
    let names: Vec<&str> = partitions
        .iter()
        .map(|partition| partition["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["esp", "xbootldr", "swap", "srv", "data", "root"]);
    let types: Vec<&str> = partitions
        .iter()
        .map(|partition| partition["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "BC13C2FF-59E6-4262-A352-B275FD6F7172",
            "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
            "3B8F8425-20E0-4F3B-907F-1A25A76F98E8",
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        ]
    );
    assert_eq!(partitions[4]["start"], 256 * 2048, "data at 256 MiB");
    let part = |index: usize, name: &str| {
        let start = partitions[index]["start"].as_u64().expect("start") * 512;
        let size = partitions[index]["size"].as_u64().expect("size") * 512;
        extract(&raw, start, size, &directory.join(name))
    };
    let root_uuid = partitions[5]["uuid"].as_str().expect("uuid").to_lowercase();

    let esp = part(0, "esp.fat");
    run_tool(Command::new("fsck.fat").arg("-n").arg(&esp));
    let listing = run_tool(
        Command::new("mdir")
            .env("MTOOLS_SKIP_CHECK", "1")
            .args(["-/", "-b", "-i"])
            .arg(&esp)
            .arg("::/"),
    );
    assert!(
        listing.contains("BOOTX64.EFI") && listing.contains("loader.conf"),
        "{listing}"
    );
    assert!(
        !listing.contains("vmlinuz"),
        "the kernel is on XBOOTLDR: {listing}"
    );

    let boot = part(1, "xbootldr.fat");
    run_tool(Command::new("fsck.fat").arg("-n").arg(&boot));
    let entry = run_tool(
        Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&boot)
            .arg("::/loader/entries/imgbuild.conf"),
    );
    assert!(
        entry.contains(&format!(
            "options root=PARTUUID={root_uuid} rw console=ttyS0 quiet"
        )),
        "{entry}"
    );
    let kernel = run_tool(
        Command::new("mtype")
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-i")
            .arg(&boot)
            .arg("::/vmlinuz"),
    );
    assert_eq!(kernel, "not really a kernel\n");

    let swap = part(2, "swap.img");
    let probe = run_tool(Command::new("blkid").arg("-p").arg(&swap));
    assert!(
        probe.contains("TYPE=\"swap\"") && probe.contains("LABEL=\"swap\""),
        "{probe}"
    );

    let srv = part(3, "srv.ext4");
    run_tool(Command::new("e2fsck").arg("-fn").arg(&srv));
    let index = run_tool(
        Command::new("debugfs")
            .args(["-R", "cat /www/index.html"])
            .arg(&srv),
    );
    assert_eq!(index, "<h1>srv</h1>\n");
    let data = part(4, "data.ext4");
    run_tool(Command::new("e2fsck").arg("-fn").arg(&data));
    let root = part(5, "root.ext4");
    run_tool(Command::new("e2fsck").arg("-fn").arg(&root));
}

#[test]
fn layouts_and_trees_that_cannot_work_are_named_and_leave_nothing() {
    require!(require_mke2fs());
    let work = scratch();
    let directory = work.path();
    let check = |options: &str, code: i32, mentions: &[&str]| {
        write_files(
            directory,
            &[(
                "recipe.rhai",
                &format!("{TREE}#{{ out: disk::image(#{{ root: root, {options} }}) }}\n"),
            )],
        );
        let (actual, _, stderr) = build_plain(directory);
        let text = unwrapped(&stderr);
        assert_eq!(actual, code, "{options}: {stderr}");
        for mention in mentions {
            assert!(text.contains(mention), "{mention:?} not in {stderr}");
        }
        assert!(!directory.join("result/out.raw").exists());
    };
    check(
        "boot: \"none\", partitions: [#{ type: \"linux\", size: \"16M\", start: \"1500K\" }]",
        2,
        &["misaligned", "recipe.rhai:"],
    );
    check(
        "boot: \"none\", partitions: [#{ type: \"linux\", size: \"16M\", start: \"64M\" }, #{ type: \"swap\", size: \"16M\", start: \"72M\" }]",
        1,
        &["overlap", "linux", "swap"],
    );
    check(
        "boot: \"none\", partitions: [#{ type: \"swp\", size: \"16M\" }]",
        2,
        &["unknown partition type `swp`", "did you mean `swap`"],
    );
    check(
        "boot: \"none\", partitions: [#{ type: \"linux\", size: \"1500K\" }]",
        2,
        &["whole number of MiB"],
    );
    check(
        "boot: \"none\", formats: [\"qcow2\", \"vdmk\"]",
        2,
        &["unknown format `vdmk`", "did you mean `vmdk`"],
    );
    check(
        "partitions: [#{ type: \"xbootldr\", size: \"4M\" }]",
        1,
        &["cannot hold the kernel"],
    );
    // A root tree without a kernel, when boot is asked for.
    write_files(
        directory,
        &[(
            "recipe.rhai",
            "let root = tree(\"nokernel\", #{ \"/usr/lib/systemd/boot/efi/systemd-bootx64.efi\": text(\"l\", \"x\") });\n\
             #{ out: disk::image(#{ root: root }) }\n",
        )],
    );
    let (code, _, stderr) = build_plain(directory);
    assert_eq!(code, 1, "{stderr}");
    assert!(unwrapped(&stderr).contains("needs a kernel"), "{stderr}");
    assert!(unwrapped(&stderr).contains("recipe.rhai:2"), "{stderr}");
    // A file larger than the file system can hold, named.
    write_files(
        directory,
        &[(
            "recipe.rhai",
            "let s = \"0123456789abcdef\"; for i in 0..21 { s += s; }\n\
             let root = tree(\"big\", #{ \"/var/big.img\": text(\"big\", s) });\n\
             #{ out: disk::image(#{ root: root, boot: \"none\", size: \"24M\" }) }\n",
        )],
    );
    let (code, _, stderr) = build_plain(directory);
    assert_eq!(code, 1, "{stderr}");
    let text = unwrapped(&stderr);
    assert!(
        text.contains("/var/big.img") && text.contains("32 MiB"),
        "{stderr}"
    );
    assert!(!directory.join("result/out.raw").exists());
}
