# Shared settings for every pkg-script. Source it: `. "$(dirname "$0")/env.sh"`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# One build cache outside the clone, shared by every build and CI run on this machine. Native
# builds go to CARGO_TARGET_DIR, wasm32 builds (the browser crate, the worker) to a sibling
# folder, so that the two can compile at the same time without waiting on cargo's lock.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tandem/target}"
export WASM_TARGET_DIR="${WASM_TARGET_DIR:-$CARGO_TARGET_DIR-wasm32}"
export TANDEM_CACHE="${TANDEM_CACHE:-$HOME/.cache/tandem}"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Every build runs clippy's lints on the workspace crates while it compiles them (clippy-driver
# is a rustc with clippy inside). Dependencies are compiled by plain rustc, so each configuration
# of burn is built once, never again in cargo's metadata-only "check" mode.
if [ -z "${RUSTC_WORKSPACE_WRAPPER:-}" ] && command -v rustup >/dev/null; then
  RUSTC_WORKSPACE_WRAPPER="$(cd "$ROOT" && rustup which clippy-driver 2>/dev/null || true)"
  export RUSTC_WORKSPACE_WRAPPER
fi
# Locked wasm-bindgen version (pkg-scripts/setup installs the CLI at exactly this version).
WASM_BINDGEN_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
export WASM_BINDGEN_VERSION
# worker-build at the locked `worker` crate's version (worker/Cargo.toml pins it). Unoptimized:
# it only drives cargo, wasm-bindgen, wasm-opt and esbuild, so its own speed does not matter,
# and a debug build compiles in a fraction of the time.
WORKER_BUILD_VERSION="$(grep -A1 '^name = "worker"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
export WORKER_BUILD_VERSION
has_worker_build() { [ "$(worker-build --version 2>/dev/null | awk '{print $NF}')" = "$WORKER_BUILD_VERSION" ]; }
install_worker_build() { cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force --debug; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# wgpu probes display servers; give it a private runtime dir so it stays quiet on headless machines.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/tandem-xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

# The wasm32 builds of the browser crate. Every wasm32 build of tandem-wasm (wasm-bindgen tests,
# the npm package and the test pages) is this one invocation's package and feature set in the
# `wasm-release` profile, so burn, CubeCL and wgpu compile for wasm32 exactly once (WASM_PROFILE
# picks another profile: `wasm-ship` for the published package).
# With 128-bit SIMD (`simd128`, in every current browser): the quantized kernels (tandem-quant)
# and burn's CPU backend vectorize with it. The worker (pkg-scripts/build-worker) is built without.
WASM_RUSTFLAGS="-C target-feature=+simd128"
wasm_cargo() {
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RUSTFLAGS" \
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "$1" -p tandem-wasm --features models \
    --target wasm32-unknown-unknown --profile "${WASM_PROFILE:-wasm-release}" --locked "${@:2}"
}
# tandem-quant for aarch64 (its NEON kernel), cross-compiled with Debian's gcc-aarch64-linux-gnu
# and run under qemu-user: correctness only, emulation says nothing about speed. Its own target
# folder beside the native one.
aarch64_cargo() {
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR-aarch64" cargo "$1" --target aarch64-unknown-linux-gnu --locked "${@:2}"
}
# The threaded build (feature `threads`: the products on rayon's pool of Web Workers). Threads
# share the wasm memory, so the standard library must be compiled with atomics: nightly's
# build-std, the nightly toolchain (with its clippy) and its wasm32 target installed here on first
# use, and its own target folder. Up to 4 GiB of memory, as the default build.
WASM_THREADS_RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals \
  -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296 \
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
  -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
# The nightly is pinned: build-std compiles its own standard library, and a newer nightly is a
# new compiler that the rest of the code has not met.
WASM_THREADS_TOOLCHAIN=nightly-2026-05-20
wasm_cargo_threads() {
  local components
  components=$(rustup +"$WASM_THREADS_TOOLCHAIN" component list --installed 2>/dev/null || true)
  if ! rustup +"$WASM_THREADS_TOOLCHAIN" target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown ||
    ! grep -q rust-src <<<"$components" || ! grep -q clippy <<<"$components"; then
    step "rustup: $WASM_THREADS_TOOLCHAIN with rust-src, clippy and wasm32 (the threaded wasm build)"
    rustup toolchain install "$WASM_THREADS_TOOLCHAIN" --profile minimal --component rust-src --component clippy \
      --target wasm32-unknown-unknown
  fi
  # The nightly's own clippy lints the workspace crates, as stable's does in the other builds.
  RUSTUP_TOOLCHAIN="$WASM_THREADS_TOOLCHAIN" \
  RUSTC_WORKSPACE_WRAPPER="$(rustup +"$WASM_THREADS_TOOLCHAIN" which clippy-driver)" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_THREADS_RUSTFLAGS" \
  CARGO_TARGET_DIR="$WASM_TARGET_DIR-threads" cargo "$1" -p tandem-wasm --features threads \
    --target wasm32-unknown-unknown --profile "${WASM_PROFILE:-wasm-release}" --locked \
    -Z build-std=panic_abort,std "${@:2}"
}
# The same, without local models and without the sealed channel: the shield-only wasm
# (`@tandem/web/shield`). It writes the same file name as the build above, so run
# wasm-bindgen on one build's output before running the other.
wasm_cargo_shield() {
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$WASM_RUSTFLAGS" \
  CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "$1" -p tandem-wasm \
    --target wasm32-unknown-unknown --profile "${WASM_PROFILE:-wasm-release}" --locked "${@:2}"
}
# The npm package @tandem/web, in the npm workspace www/ (with the demo and the extension).
WEB_PKG="$ROOT/www/tandem-web"
# wasm-opt -Oz in place, with the features wasm-bindgen's output uses (npm binaryen, a dev
# dependency of the package: Debian's wasm-opt 108 produced wasm that failed to load).
wasm_opt() {
  "$ROOT/www/node_modules/.bin/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd --enable-threads "$1" -o "$1"
}
# The native build that tests, the demo and the e2e tests share: the whole workspace in the dev
# profile (same package set, hence the same features, so `--bins` reuses the tests' build).
native_bins() { cargo build --workspace --bins --locked "$@"; }
TANDEM_BIN="$CARGO_TARGET_DIR/debug/tandem"
# llama.cpp (llama-cpp-python from PyPI, built from source) for the benchmarks that compare with it.
# x86-64 SIMD up to AVX-512 VNNI, but not GGML_NATIVE: -march=native also turns on AMX, which traps
# (illegal instruction) where the kernel does not grant AMX state, as in this sandbox.
ensure_llama_cpp() {
  "$TANDEM_CACHE/venv/bin/python" -c "import llama_cpp" 2>/dev/null && return 0
  step "building llama.cpp (llama-cpp-python 0.3.36 from PyPI; several minutes)"
  local simd=""
  [ "$(uname -m)" = x86_64 ] && simd="-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  grep -q avx512_vnni /proc/cpuinfo 2>/dev/null && simd="$simd -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_VBMI=ON"
  CMAKE_ARGS="-DGGML_NATIVE=OFF $simd" "$TANDEM_CACHE/venv/bin/pip" install -q --no-cache-dir llama-cpp-python==0.3.36
}
export TANDEM_BIN

# Fails when a build printed warnings of workspace crates (rustc or clippy). Cargo replays the
# warnings of cached crates, so a build that compiled nothing is checked as well.
#   deny_warnings LOG
deny_warnings() {
  if grep -E '^warning: .* generated [0-9]+ warnings?' "$1"; then
    echo "the warnings above are errors in pkg-scripts/test" >&2
    return 1
  fi
}
