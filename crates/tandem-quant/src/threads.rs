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
#[cfg(all(feature = "parallel", not(target_arch = "wasm32")))]
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
        let warm = Warm::start();
        while PRODUCTS.load(Ordering::Acquire) == seen && warm.going() {
            std::hint::spin_loop();
        }
    });
}

/// How long a worker has spun in [`keep_warm`]: [`WARM`] by the clock
/// natively; in wasm, which has no clock here (`Instant::now` panics in
/// `wasm32-unknown-unknown`), a count of spins (not timed).
#[cfg(feature = "parallel")]
struct Warm {
    #[cfg(not(target_arch = "wasm32"))]
    start: std::time::Instant,
    #[cfg(target_arch = "wasm32")]
    spins: std::cell::Cell<u32>,
}

#[cfg(feature = "parallel")]
impl Warm {
    /// Spins in wasm before a worker goes back to sleep: each is one atomic
    /// load, so this is a fraction of a millisecond.
    #[cfg(target_arch = "wasm32")]
    const SPINS: u32 = 100_000;

    fn start() -> Self {
        Self {
            #[cfg(not(target_arch = "wasm32"))]
            start: std::time::Instant::now(),
            #[cfg(target_arch = "wasm32")]
            spins: std::cell::Cell::new(0),
        }
    }

    fn going(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        return self.start.elapsed() < WARM;
        #[cfg(target_arch = "wasm32")]
        {
            self.spins.set(self.spins.get() + 1);
            self.spins.get() < Self::SPINS
        }
    }
}

/// Sets the number of threads quantized products use (feature `parallel`):
/// the calling thread plus a pool of `n − 1`. Call it once, before the
/// first product; by default there is one thread per core. Returns an
/// error if the pool was already started.
///
/// In wasm the host starts the pool (Web Workers: `tandem-wasm`'s
/// `startThreads`) and then says here how many threads there are; this
/// only records `n`.
#[cfg(feature = "parallel")]
pub fn set_threads(n: usize) -> Result<(), String> {
    let n = n.max(1);
    if n > 1 && cfg!(not(target_arch = "wasm32")) {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n - 1)
            .build_global()
            .map_err(|e| e.to_string())?;
    }
    THREADS.store(n, Ordering::Relaxed);
    Ok(())
}

/// The threads a product may use, choosing one per core on first use
/// (in wasm, one until the host says otherwise: see [`set_threads`]).
#[cfg(feature = "parallel")]
pub(crate) fn threads() -> usize {
    #[cfg(target_arch = "wasm32")]
    return THREADS.load(Ordering::Relaxed).max(1);
    #[cfg(not(target_arch = "wasm32"))]
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

/// Rows per parallel task are a multiple of this (whole groups of the
/// interleaved layout, `interleaved.rs`), and at least this many.
#[cfg(feature = "parallel")]
const TASK_ROWS: usize = 32;

/// Tasks per thread a product is cut into: few, so that each thread streams
/// long runs of contiguous weights (the memory's prefetchers lose a stream at
/// every jump: with 32-row tasks taken in turn, two threads decoded the 1.5B
/// model no faster than one, 20-21 tok/s, and 23.5-24.4 tok/s with eight
/// tasks per thread; docs/models.md), enough that a thread that starts late
/// takes fewer.
#[cfg(feature = "parallel")]
const TASKS_PER_THREAD: usize = 8;

/// Products smaller than this (weight bytes times input rows) run on the
/// calling thread: handing them to the pool costs more than it saves.
#[cfg(feature = "parallel")]
const PARALLEL_WORK: usize = 1 << 16;

/// A `[rows, m]` output computed by `run(first_row, out)` over runs of
/// whole rows, `work` (weight bytes times input rows) saying whether threads
/// pay. The rows are weight rows for [`QMatrix`](crate::QMatrix) (whose
/// caller transposes) and input rows for [`Int8Matrix`](crate::Int8Matrix).
///
/// With threads, the calling thread and the pool's workers take tasks of
/// contiguous rows ([`TASKS_PER_THREAD`] per thread) from one queue until
/// it is empty: a worker that starts late takes fewer, and the caller never
/// waits longer than one task for the last. Whether a product of its size pays for the pool on this
/// machine is learned as it runs ([`crate::pool_choice`]). Every product of
/// the crate shares this loop.
pub(crate) fn by_rows(rows: usize, m: usize, work: usize, run: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut yt = vec![0f32; rows * m];
    #[cfg(feature = "parallel")]
    split(&mut yt, m, work, Work::Product, &run);
    #[cfg(not(feature = "parallel"))]
    {
        let _ = work;
        run(0, &mut yt);
    }
    yt
}

/// Runs `run(first_row, rows)` over `out` cut into rows of `width` values,
/// on the products' threads where work of this size pays for them on this
/// machine (learned as for products, apart from them), else on the calling
/// thread. `work` is about the bytes it reads.
///
/// For the host steps between a model's products (attention, activations):
/// run on the calling thread alone, they left the other thread spinning for
/// a quarter of a verification forward of Qwen2.5-Coder-1.5B on two threads
/// (docs/models.md). The products' pool is the only one: rayon jobs of
/// their own would wait behind its warm workers.
///
/// In wasm it runs on the calling thread: handing work to Web Workers costs
/// more than to native threads, and it was not measured there.
pub fn par_rows(out: &mut [f32], width: usize, work: usize, run: impl Fn(usize, &mut [f32]) + Sync) {
    let width = width.max(1);
    #[cfg(feature = "parallel")]
    split(out, width, work, Work::Host, &run);
    #[cfg(not(feature = "parallel"))]
    {
        let _ = (work, width);
        run(0, out);
    }
}

/// What a parallel run is: its rows per task, and the timings it learns from.
#[cfg(feature = "parallel")]
#[derive(Clone, Copy)]
enum Work {
    /// A quantized product: tasks of whole groups of [`TASK_ROWS`].
    Product,
    /// A host step ([`par_rows`]): tasks of any number of rows.
    Host,
}

/// Runs `run` over `data` cut into runs of whole `chunk`-byte pieces, on
/// every thread when `data` is large: how a loader's in-place rewrite of a
/// model's matrices (`QMatrix::interleave_in_place`) uses the cores that
/// decoding will use, instead of one (a second of loading on the 1.5B).
pub(crate) fn by_chunks(data: &mut [u8], chunk: usize, run: impl Fn(&mut [u8]) + Sync) {
    #[cfg(feature = "parallel")]
    {
        let threads = threads();
        let chunks = data.len() / chunk.max(1);
        if threads > 1 && data.len() >= PARALLEL_WORK && chunks > 1 {
            let per = chunks.div_ceil(threads * TASKS_PER_THREAD) * chunk;
            let tasks = std::sync::Mutex::new(data.chunks_mut(per));
            let take = || {
                // A poisoned queue means another thread panicked; the scope re-raises that panic.
                while let Some(piece) = tasks.lock().ok().and_then(|mut t| t.next()) {
                    run(piece);
                }
            };
            rayon::in_place_scope(|scope| {
                for _ in 1..threads {
                    scope.spawn(|_| take());
                }
                take();
            });
            return;
        }
    }
    let _ = chunk;
    run(data)
}

/// [`by_rows`] and [`par_rows`] with threads: on the pool when it pays for
/// work of this kind and size, else on the calling thread.
#[cfg(feature = "parallel")]
fn split(yt: &mut [f32], m: usize, work: usize, kind: Work, run: &(impl Fn(usize, &mut [f32]) + Sync)) {
    let threads = threads();
    #[cfg(not(target_arch = "wasm32"))]
    let (turn, start) = (
        (threads > 1 && work >= PARALLEL_WORK)
            .then(|| crate::pool_choice::Turn::next(work, matches!(kind, Work::Host))),
        std::time::Instant::now(),
    );
    #[cfg(not(target_arch = "wasm32"))]
    let pooled = turn.as_ref().is_some_and(|t| t.pooled);
    // No clock to learn with in wasm: a fixed size decides, and host steps
    // (`par_rows`) stay on the calling thread (not measured in a browser).
    #[cfg(target_arch = "wasm32")]
    let pooled = threads > 1 && work >= WASM_PARALLEL_WORK && matches!(kind, Work::Product);
    if pooled {
        let rows = yt.len() / m.max(1);
        let task_rows = match kind {
            Work::Product => rows.div_ceil(threads * TASKS_PER_THREAD).next_multiple_of(TASK_ROWS),
            Work::Host => rows.div_ceil(threads * TASKS_PER_THREAD).max(1),
        };
        let tasks = std::sync::Mutex::new(yt.chunks_mut(task_rows * m).enumerate());
        let take = || {
            // A poisoned queue means another thread panicked inside a
            // kernel; the scope re-raises that panic.
            while let Some((task, out)) = tasks.lock().ok().and_then(|mut t| t.next()) {
                run(task * task_rows, out);
            }
        };
        starting();
        rayon::in_place_scope(|scope| {
            for _ in 1..threads {
                scope.spawn(|_| take());
            }
            take();
        });
        keep_warm();
    } else {
        run(0, yt);
    }
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(turn) = turn {
        turn.done(start.elapsed());
    }
}

/// In wasm, products at least this large (weight bytes times input rows)
/// run on the pool; smaller ones on the calling thread.
#[cfg(all(feature = "parallel", target_arch = "wasm32"))]
const WASM_PARALLEL_WORK: usize = 1 << 18;

#[cfg(test)]
mod tests {
    #[test]
    fn par_rows_gives_each_row_once_with_its_index() {
        // Sixteen calls of one size, with a short last row: with two or
        // more threads calls 0–3 run serially and 4–7 on the pool
        // (`pool_choice` times both ways), then the faster way.
        for _ in 0..16 {
            let (width, len) = (7, 7 * 301 + 3);
            let mut out = vec![-1f32; len];
            super::par_rows(&mut out, width, 1 << 20, |first, rows| {
                for (i, v) in rows.iter_mut().enumerate() {
                    assert_eq!(*v, -1.0, "value {} written twice", first * width + i);
                    *v = (first * width + i) as f32;
                }
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
        }
    }

    #[test]
    fn by_chunks_runs_every_byte_once_in_whole_chunks() {
        for (len, chunk) in [(1 << 20, 4096), (3 * 1000, 1000), (7 * 272 * 8, 272 * 8)] {
            let mut data = vec![0u8; len];
            super::by_chunks(&mut data, chunk, |run| {
                assert_eq!(run.len() % chunk, 0, "whole chunks");
                run.iter_mut().for_each(|b| *b += 1);
            });
            assert!(data.iter().all(|&b| b == 1), "{len} bytes in chunks of {chunk}");
        }
    }
}
