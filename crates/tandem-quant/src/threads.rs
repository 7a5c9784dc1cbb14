//! How many threads the kernels use.

/// Sets the number of threads quantized products use (natively; wasm runs
/// on one). Call it once, before the first product; by default rayon uses
/// one thread per core. Returns an error if the pool was already started.
#[cfg(not(target_arch = "wasm32"))]
pub fn set_threads(n: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build_global()
        .map_err(|e| e.to_string())
}

/// Sets the number of threads quantized products use: wasm runs on one, so
/// this accepts only 1.
#[cfg(target_arch = "wasm32")]
pub fn set_threads(n: usize) -> Result<(), String> {
    if n <= 1 {
        Ok(())
    } else {
        Err("this build runs on one thread".to_owned())
    }
}
