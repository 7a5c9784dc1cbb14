//! How many threads the kernels use: the calling thread and, with the
//! `parallel` feature, rayon's pool of the others.

#[cfg(feature = "parallel")]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads a product may use; 0 until chosen (then one per core).
#[cfg(feature = "parallel")]
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Counts the parallel products started, so that a warm worker sees the
/// next one coming.
#[cfg(feature = "parallel")]
static PRODUCTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How long the pool's workers stay awake after a product, waiting for the
/// next (a decoder runs a few hundred products per token, tens of
/// microseconds apart; waking a sleeping thread costs about as much as one).
#[cfg(feature = "parallel")]
const WARM: std::time::Duration = std::time::Duration::from_micros(500);

/// Marks the start of a parallel product: warm workers stop waiting.
#[cfg(feature = "parallel")]
pub(crate) fn starting() {
    PRODUCTS.fetch_add(1, Ordering::Release);
}

/// Keeps every worker of the pool spinning for [`WARM`], or until the next
/// product starts, so that it picks that product's share up at once instead
/// of being woken from sleep (what llama.cpp's and OpenMP's pools do).
#[cfg(feature = "parallel")]
pub(crate) fn keep_warm() {
    let seen = PRODUCTS.load(Ordering::Acquire);
    rayon::spawn_broadcast(move |_| {
        let start = std::time::Instant::now();
        while PRODUCTS.load(Ordering::Acquire) == seen && start.elapsed() < WARM {
            std::hint::spin_loop();
        }
    });
}

/// Sets the number of threads quantized products use (feature `parallel`):
/// the calling thread plus a pool of `n − 1`. Call it once, before the
/// first product; by default there is one thread per core. Returns an
/// error if the pool was already started.
#[cfg(feature = "parallel")]
pub fn set_threads(n: usize) -> Result<(), String> {
    let n = n.max(1);
    if n > 1 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n - 1)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The threads a product may use, choosing one per core on first use.
#[cfg(feature = "parallel")]
pub(crate) fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism().map_or(1, usize::from);
            if set_threads(n).is_err() {
                // Someone else started rayon's pool: use it as sized.
                THREADS.store(rayon::current_num_threads() + 1, Ordering::Relaxed);
            }
            THREADS.load(Ordering::Relaxed)
        }
        n => n,
    }
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
