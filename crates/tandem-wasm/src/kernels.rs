//! The relaxed-SIMD module: compiled beside this one where the browser has
//! relaxed SIMD, and given the quantized products (the encoder's, and the
//! decoder's for every type but `Q8_0`; `tandem_quant::RELAXED_SIMD_MODULE`
//! says why it is a module of its own). Where the browser refuses it, the
//! products stay on this module's `simd128` kernel. In the threaded build
//! every thread of the pool runs an instance of its own, with its own stack,
//! in the shared memory.

use js_sys::{Object, Reflect, Uint8Array, WebAssembly};
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// An export of the relaxed module, called with `undefined` as `this`
    /// and addresses and counts.
    #[wasm_bindgen(js_name = Function)]
    type Export;
    #[wasm_bindgen(method, js_name = call)]
    fn call6(this: &Export, this_arg: &JsValue, w: u32, n: u32, s: u32, a: u32, m: u32, out: u32);
    #[wasm_bindgen(method, js_name = call)]
    #[allow(clippy::too_many_arguments)]
    fn call8(
        this: &Export,
        this_arg: &JsValue,
        ty: u32,
        w: u32,
        row_bytes: u32,
        cols: u32,
        n: u32,
        a: u32,
        m: u32,
        out: u32,
    );
}

/// The relaxed module's two exports.
struct Exports {
    int8_sums: Export,
    block_rows: Export,
}

/// Bytes of this module's memory set aside for each instance's stack: the
/// block products unpack one block there at a time (a few hundred bytes),
/// so this is room to spare.
const STACK: usize = 64 * 1024;

/// Whether the module was tried on this thread, and how it went.
enum State {
    Untried,
    /// Being compiled; a second caller meanwhile keeps `simd128`, which
    /// computes the same products, rather than starting a second instance.
    Starting,
    Running(Exports),
    Refused(String),
}

thread_local! {
    /// This thread's instance: exports are JavaScript functions of one
    /// worker, and each instance's stack is its own, so the threaded build
    /// starts one per thread of the pool.
    static STATE: RefCell<State> = const { RefCell::new(State::Untried) };
}

/// Compiles and starts the relaxed module on this thread once (and, in the
/// threaded build, on every thread of the pool), and hands the products to
/// it. `Err` says why it does not run here (no relaxed SIMD in this browser,
/// or it failed to start); the products then stay on `simd128`.
pub(crate) async fn enable() -> Result<(), String> {
    let tried = STATE.with(|s| {
        let mut state = s.borrow_mut();
        match &*state {
            State::Untried => {
                *state = State::Starting;
                None
            }
            State::Starting => Some(Err("the relaxed-SIMD module is still starting".to_owned())),
            State::Running(_) => Some(Ok(())),
            State::Refused(why) => Some(Err(why.clone())),
        }
    });
    if let Some(result) = tried {
        return result;
    }
    let started = start().await;
    STATE.with(|s| settle(&mut s.borrow_mut(), started))?;
    // Threads without an instance keep `simd128` (the exports say so), so a
    // pool that starts later, or a thread that failed, still computes right.
    tandem_quant::use_relaxed_simd(tandem_quant::RelaxedKernels { int8_sums, block_rows });
    #[cfg(feature = "threads")]
    if POOL_STARTED.load(std::sync::atomic::Ordering::Acquire) {
        start_on_pool()?;
    }
    Ok(())
}

/// Records how starting the module on this thread went; why it failed.
fn settle(state: &mut State, started: Result<Exports, String>) -> Result<(), String> {
    let result = started.as_ref().map(|_| ()).map_err(String::clone);
    *state = match started {
        Ok(exports) => State::Running(exports),
        Err(why) => State::Refused(why),
    };
    result
}

/// Validates and instantiates the module (asynchronously: the page's main
/// thread may not compile it synchronously); its exports.
async fn start() -> Result<Exports, String> {
    let bytes = Uint8Array::from(tandem_quant::RELAXED_SIMD_MODULE);
    if !WebAssembly::validate(&bytes.clone().into()).map_err(|e| fail("validate", e))? {
        return Err("this browser has no relaxed SIMD".to_owned());
    }
    // From the copy: the threaded build's memory is shared, and a view of
    // it is not a buffer that WebAssembly compiles.
    let module = JsFuture::from(WebAssembly::compile(&bytes.into()))
        .await
        .map_err(|e| fail("compile", e))?;
    let instance = JsFuture::from(WebAssembly::instantiate_module(&module.unchecked_into(), &imports()?))
        .await
        .map_err(|e| fail("instantiate", e))?;
    exports_of(&instance)
}

/// Why the module failed to start, at `what`.
fn fail(what: &str, e: JsValue) -> String {
    format!("the relaxed-SIMD module failed to {what}: {e:?}")
}

/// The module's one import: this module's memory.
fn imports() -> Result<Object, String> {
    let env = Object::new();
    Reflect::set(&env, &"memory".into(), &wasm_bindgen::memory()).map_err(|e| fail("import memory", e))?;
    let imports = Object::new();
    Reflect::set(&imports, &"env".into(), &env).map_err(|e| fail("import memory", e))?;
    Ok(imports)
}

/// An instance's two exports, its stack pointed at a region of this
/// module's memory set aside for it.
fn exports_of(instance: &JsValue) -> Result<Exports, String> {
    let names = Reflect::get(instance, &"exports".into()).map_err(|e| fail("export", e))?;
    let stack_pointer: WebAssembly::Global = Reflect::get(&names, &"__stack_pointer".into())
        .map_err(|e| fail("export its stack pointer", e))?
        .dyn_into()
        .map_err(|e| fail("export its stack pointer", e))?;
    let export = |name: &str| match Reflect::get(&names, &name.into()) {
        Ok(f) if f.is_function() => Ok(f.unchecked_into::<Export>()),
        _ => Err(format!("the relaxed-SIMD module has no {name}")),
    };
    let exports = Exports {
        int8_sums: export("int8_sums")?,
        block_rows: export("block_rows")?,
    };
    // Held for the thread's life: the module may run at any later product.
    let stack: &'static mut [u8] = Vec::leak(vec![0u8; STACK]);
    let top = (stack.as_ptr() as usize + STACK) & !15;
    stack_pointer.set_value(&JsValue::from(top as u32));
    Ok(exports)
}

/// Whether [`start_threads`] started the pool: only then may the module be
/// started on its threads (rayon would otherwise build a pool of its own,
/// which cannot spawn threads here).
#[cfg(feature = "threads")]
static POOL_STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts an instance on every thread of the pool, synchronously (workers
/// may compile a module synchronously); the first thread's error, if any.
/// Where one fails, every product goes back to `simd128`, so that
/// [`quant_kernel`] names the kernel all threads run.
#[cfg(feature = "threads")]
fn start_on_pool() -> Result<(), String> {
    rayon::broadcast(|_| {
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            if let State::Running(_) = &*state {
                return Ok(());
            }
            let started = WebAssembly::Module::new(&Uint8Array::from(tandem_quant::RELAXED_SIMD_MODULE).into())
                .map_err(|e| fail("compile on a worker", e))
                .and_then(|module| {
                    WebAssembly::Instance::new(&module, &imports()?).map_err(|e| fail("instantiate on a worker", e))
                })
                .and_then(|instance| exports_of(&instance.into()));
            settle(&mut state, started)
        })
    })
    .into_iter()
    .collect::<Result<(), String>>()
    .inspect_err(|_| {
        let _ = tandem_quant::use_kernel(tandem_quant::Kernel::Simd128);
    })
}

/// The encoder's products' way into this thread's instance
/// ([`tandem_quant::RelaxedKernels::int8_sums`]).
fn int8_sums(w: usize, n: usize, s: usize, a: usize, m: usize, out: usize) -> bool {
    STATE.with(|state| match &*state.borrow() {
        State::Running(f) => {
            let u = |v: usize| v as u32;
            f.int8_sums
                .call6(&JsValue::UNDEFINED, u(w), u(n), u(s), u(a), u(m), u(out));
            true
        }
        _ => false,
    })
}

/// The decoder's products' way into this thread's instance
/// ([`tandem_quant::RelaxedKernels::block_rows`]).
#[allow(clippy::too_many_arguments)]
fn block_rows(ty: u32, w: usize, row_bytes: usize, cols: usize, n: usize, a: usize, m: usize, out: usize) -> bool {
    STATE.with(|state| match &*state.borrow() {
        State::Running(f) => {
            let u = |v: usize| v as u32;
            f.block_rows.call8(
                &JsValue::UNDEFINED,
                ty,
                u(w),
                u(row_bytes),
                u(cols),
                u(n),
                u(a),
                u(m),
                u(out),
            );
            true
        }
        _ => false,
    })
}

/// Starts the relaxed-SIMD module now (loading a model does it too), once;
/// throws why it cannot run here, e.g. a browser without relaxed SIMD
/// (Safari, Node 20), where the products stay on `simd128`.
#[wasm_bindgen(js_name = enableRelaxedSimd)]
pub async fn enable_relaxed_simd() -> Result<(), JsError> {
    enable().await.map_err(|why| JsError::new(&why))
}

/// The kernel the quantized products run on: `"relaxed"` (the relaxed-SIMD
/// module; it starts with the first model loaded where the browser has
/// relaxed SIMD) or `"simd128"`.
#[wasm_bindgen(js_name = quantKernel)]
pub fn quant_kernel() -> String {
    format!("{:?}", tandem_quant::kernel()).to_lowercase()
}

/// Runs later products on another kernel (`"simd128"`, `"portable"`, or
/// `"relaxed"` once it started): how a benchmark compares them in one page.
#[wasm_bindgen(js_name = useQuantKernel)]
pub fn use_quant_kernel(name: &str) -> Result<(), JsError> {
    let kernel = tandem_quant::Kernel::ALL
        .into_iter()
        .find(|k| format!("{k:?}").eq_ignore_ascii_case(name))
        .ok_or_else(|| JsError::new(&format!("unknown kernel `{name}`")))?;
    tandem_quant::use_kernel(kernel).map_err(|e| JsError::new(&e.to_string()))
}

/// Starts `workers` Web Workers that the quantized products share with the
/// calling thread (the threaded build, feature `threads`): `await
/// startThreads(n)` once, in a cross-origin isolated worker, before the
/// first model loads. The products then run on `n + 1` threads.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = startThreads)]
pub async fn start_threads(workers: usize) -> Result<(), JsError> {
    if workers == 0 {
        return Err(JsError::new("startThreads needs at least one worker"));
    }
    // Clear errors for the two ways it cannot work, instead of a failed clone or
    // a trap the first time a product waits for the pool.
    let global = js_sys::global();
    let has = |name: &str| Reflect::get(&global, &name.into()).is_ok_and(|v| !v.is_falsy());
    if has("document") {
        return Err(JsError::new(
            "startThreads runs in a Web Worker: the page's main thread may not wait for the pool",
        ));
    }
    if !has("crossOriginIsolated") {
        return Err(JsError::new(
            "startThreads needs a cross-origin isolated page (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp) to share memory with workers",
        ));
    }
    JsFuture::from(wasm_bindgen_rayon::init_thread_pool(workers))
        .await
        .map_err(|e| JsError::new(&format!("the thread pool failed to start: {e:?}")))?;
    POOL_STARTED.store(true, std::sync::atomic::Ordering::Release);
    tandem_quant::set_threads(workers + 1).map_err(|e| JsError::new(&e))?;
    // The relaxed-SIMD module started before the pool: start it on the pool
    // too, or run every product on `simd128` (which `quantKernel` then says).
    if STATE.with(|s| matches!(&*s.borrow(), State::Running(_))) {
        let _ = start_on_pool();
    }
    Ok(())
}
