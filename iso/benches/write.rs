//! Times writing NoCloud-seed-sized images (3–4 small files): `cargo bench -p
//! imgbuild-iso`. Prints the median over several rounds of 10,000 images, per image,
//! for writing a prepared volume and for building the volume and writing it.

use std::hint::black_box;
use std::time::Instant;

use imgbuild_iso::{to_vec, Attributes, Content, Directory, File, Label, Node, Volume};

const IMAGES: usize = 10_000;
const ROUNDS: usize = 7;

fn seed(index: usize) -> Volume {
    let mut root = Directory::new(Attributes::directory(0o755));
    let files: [(&str, String); 4] = [
        (
            "meta-data",
            format!("instance-id: i-{index:08}\nlocal-hostname: vm-{index}\n"),
        ),
        (
            "user-data",
            "#cloud-config\nusers:\n  - name: ops\n    ssh_authorized_keys: [ssh-ed25519 AAAA]\n"
                .repeat(4),
        ),
        (
            "network-config",
            "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n".to_owned(),
        ),
        ("vendor-data", String::new()),
    ];
    for (name, content) in files {
        let node = Node::File(File {
            content: Content::Bytes(content.into_bytes()),
            attributes: Attributes::file(0o644),
        });
        root.insert(name, node).expect("valid name");
    }
    Volume {
        label: Label::new("cidata").expect("valid label"),
        source_date_epoch: 1_700_000_000,
        root,
    }
}

/// Median per-image microseconds of `ROUNDS` rounds of `IMAGES` calls to `work`.
fn measure(mut work: impl FnMut(usize) -> usize) -> (f64, usize) {
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for index in 0..IMAGES {
            bytes = black_box(work(index));
        }
        rounds.push(start.elapsed().as_secs_f64() * 1e6 / IMAGES as f64);
    }
    rounds.sort_by(f64::total_cmp);
    (rounds[ROUNDS / 2], bytes)
}

fn main() {
    let prepared = seed(0);
    let (write_only, bytes) = measure(|_| to_vec(black_box(&prepared)).expect("write").len());
    let (end_to_end, _) = measure(|index| to_vec(&seed(index)).expect("write").len());
    println!("seed image: {bytes} bytes ({} sectors)", bytes / 2048);
    println!(
        "write a prepared volume:  {write_only:.2} µs per image (median of {ROUNDS} × {IMAGES})"
    );
    println!(
        "build volume and write:   {end_to_end:.2} µs per image (median of {ROUNDS} × {IMAGES})"
    );
}
