//! Helpers shared by the fuzz targets in `fuzz_targets/` (see docs/fuzzing.md).

pub mod alloc;

/// The input as NUL-separated text parts (invalid UTF-8 replaced): how the structured targets
/// read several strings from one input, so that seeds stay readable text.
pub fn nul_parts(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}
