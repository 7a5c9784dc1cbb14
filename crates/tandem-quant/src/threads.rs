//! How many threads the kernels use.

/// Sets the number of threads quantized products use (feature `parallel`).
/// Call it once, before the first product; by default rayon uses one thread
/// per core. Returns an error if the pool was already started.
#[cfg(feature = "parallel")]
pub fn set_threads(n: usize) -> Result<(), String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n.max(1))
        .build_global()
        .map_err(|e| e.to_string())
}

/// Sets the number of threads quantized products use: built without the
/// `parallel` feature (as for wasm) they run on one, so this accepts only 1.
#[cfg(not(feature = "parallel"))]
pub fn set_threads(n: usize) -> Result<(), String> {
    if n <= 1 {
        Ok(())
    } else {
        Err("this build runs on one thread".to_owned())
    }
}
