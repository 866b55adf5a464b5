//! ISO write-then-read round trip: a tree derived from the input is written with
//! `imgbuild_iso`, read back with the independent reader in `src/iso_reader.rs`
//! (Rock Ridge and Joliet) and compared with what was written. Also: the writer refuses
//! what it cannot represent with an error (never a panic), `image_size` agrees with
//! the bytes written, `to_vec` and `write_image` give the same image, and an external
//! callback that writes too little, too much or fails is an error.

#![no_main]

use imgbuild_fuzz::iso_reader;
use imgbuild_fuzz::iso_volume::{external_bytes, Callback, VolumeInput};
use imgbuild_iso::{image_size, to_vec, write_image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: VolumeInput| {
    let Some(built) = input.build() else {
        return;
    };
    let volume = &built.volume;
    let size = image_size(volume);
    let mut image = Vec::new();
    let mut misbehaved = false;
    let written = write_image(volume, &mut image, &mut |key, out| {
        let size = built.external_sizes.get(&key).copied().unwrap_or(0);
        let mut bytes = external_bytes(key, size);
        match input.callback {
            Callback::Exact => {}
            Callback::Short => {
                bytes.pop();
                misbehaved = true;
            }
            Callback::Long => {
                bytes.push(0);
                misbehaved = true;
            }
            Callback::Fail => {
                misbehaved = true;
                return Err(std::io::Error::other("the callback fails"));
            }
        }
        out.write_all(&bytes)
    });
    let written = match written {
        Ok(written) => written,
        Err(error) => {
            assert!(
                !built.must_succeed || misbehaved,
                "a representable volume was refused: {error}"
            );
            assert!(
                size.is_err() || misbehaved,
                "image_size accepted what write_image refused: {error}"
            );
            return;
        }
    };
    assert!(
        !misbehaved,
        "a misbehaving external callback was not noticed"
    );
    assert_eq!(written, image.len() as u64, "returned size");
    assert_eq!(size.ok(), Some(written), "image_size");
    assert_eq!(written % 2048, 0, "image size is not a multiple of 2048");
    if built.external_sizes.is_empty() {
        let in_memory = to_vec(volume).expect("to_vec after write_image succeeded");
        assert!(in_memory == image, "to_vec and write_image differ");
    } else {
        assert!(to_vec(volume).is_err(), "to_vec accepted external content");
    }
    let read = match iso_reader::read(&image) {
        Ok(read) => read,
        Err(problem) => panic!("the image does not read back: {problem}"),
    };
    assert_eq!(read.label, volume.label.as_str(), "label");
    assert_eq!(read.root, built.expected, "Rock Ridge tree");
    assert_eq!(read.joliet, built.expected.joliet(), "Joliet tree");
});
