//! The image file decoders (`bsar::imageio`) on arbitrary bytes. Nothing may panic, and whatever
//! decodes must agree with the rest of bsar: the header probe states the same geometry (create
//! records one, extract rebuilds with the other), the wrapper survives serialisation, the file
//! rebuilt from the raster decodes to the same raster, and a PNM comes back byte for byte.
//!     cargo +nightly fuzz run imageio corpus/imageio
#![no_main]

use bsar::imageio::{decode, encode, probe, rebuild, Header, Wrapper};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let probed = probe(data);
    // `create` sniffs only a file's first 512 bytes to plan it (a PNM whose comments run past
    // them is then stored as bytes, which is safe); on the whole file the sniff must agree.
    let storable = bsar::imageio::looks_storable(data);
    let Some((raster, wrapper)) = decode(data) else {
        return;
    };
    let header = Header {
        width: raster.width,
        height: raster.height,
        channels: raster.channels,
    };
    assert_eq!(probed, Some(header), "probe and decode disagree");
    assert!(storable, "a file that decodes must look storable");
    assert_eq!(raster.pixels.len() as u64, header.samples());
    let bytes = wrapper.to_bytes();
    assert_eq!(Wrapper::from_bytes(&bytes).unwrap(), wrapper);
    let file = encode(&raster, &wrapper).expect("a decoded image re-encodes");
    assert_eq!(rebuild(&bytes, header, raster.pixels.clone()).unwrap(), file);
    if wrapper.byte_exact() {
        assert_eq!(file, data, "PNM comes back byte for byte");
    } else {
        assert_eq!(wrapper.file_len(0), Some(data.len() as u64));
    }
    let (again, _) = decode(&file).expect("the rebuilt file decodes");
    assert_eq!(again, raster, "the rebuilt file holds the same pixels");
});
