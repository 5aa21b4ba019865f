//! The image file decoders (`bsar::imageio`) on arbitrary bytes. Nothing may panic, and whatever
//! decodes must agree with the rest of bsar: the header probe states the same geometry (create
//! records one, extract rebuilds with the other), the wrapper survives serialisation, the file
//! rebuilt from the raster decodes to the same raster, and a PNM, or a PNG through its
//! byte-exact record, comes back byte for byte.
//!     cargo +nightly fuzz run imageio corpus/imageio
#![no_main]

#[path = "../../tests/budget_support/mod.rs"]
mod budget_support;

/// Every allocation counted: a decode past its budget (spec/format.md 6.3) aborts the run.
#[global_allocator]
static ALLOC: budget_support::Counting = budget_support::Counting;

use bsar::imageio::{
    decode, decode_exact, encode, probe, rebuild, rebuild_budget, Header, Wrapper,
};

/// `rebuild`, as the reader runs it, held to its budget.
fn rebuild_within(
    wrapper: &[u8],
    header: Header,
    pixels: Vec<u8>,
) -> Result<Vec<u8>, bsar::imageio::WrapperError> {
    let budget = rebuild_budget(wrapper.len() as u64, header);
    budget_support::within("imageio rebuild", budget, || {
        rebuild(wrapper, header, pixels)
    })
    .0
}
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
        depth: raster.depth,
    };
    assert_eq!(probed, Some(header), "probe and decode disagree");
    assert!(storable, "a file that decodes must look storable");
    assert_eq!(raster.pixels.len() as u64, header.pixel_bytes());
    let bytes = wrapper.to_bytes();
    assert_eq!(Wrapper::from_bytes(&bytes).unwrap(), wrapper);
    let file = encode(&raster, &wrapper).expect("a decoded image re-encodes");
    assert_eq!(
        rebuild_within(&bytes, header, raster.pixels.clone()).unwrap(),
        file
    );
    if wrapper.byte_exact() {
        assert_eq!(
            file, data,
            "a byte-exact wrapper (PNM, palette PNG) gives back the file"
        );
    } else {
        assert_eq!(wrapper.file_len(0), Some(data.len() as u64));
    }
    let (again, _) = decode(&file).expect("the rebuilt file decodes");
    assert_eq!(again, raster, "the rebuilt file holds the same pixels");
    // Byte-exact PNG records: what decodes exactly comes back as the very same file, through
    // its serialised record; a PNG record with a flipped byte is refused or gives the same
    // file (the CRC-32 check), never another file and never a panic.
    if let Some((r, exact)) = decode_exact(data) {
        assert_eq!(r, raster);
        let bytes = exact.to_bytes();
        assert_eq!(
            rebuild_within(&bytes, header, r.pixels.clone()).unwrap(),
            data
        );
        assert_eq!(
            exact.file_len(r.pixels.len() as u64),
            Some(data.len() as u64)
        );
        // (A PNM wrapper is its header verbatim, guarded by the index CRC only.)
        if matches!(exact, Wrapper::PngExact(_)) {
            let at = data.len() % bytes.len();
            let mut bad = bytes.clone();
            bad[at] ^= 0x5a;
            if let Ok(f) = rebuild_within(&bad, header, r.pixels) {
                assert_eq!(f, data, "a damaged record gives back another file");
            }
        }
    }
});
