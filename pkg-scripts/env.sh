# Shared settings for every pkg-script. Source it: `. "$(dirname "$0")/env.sh"`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
# One build cache outside the clone, shared by every build and CI run on this machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tandem/target}"
export TANDEM_CACHE="${TANDEM_CACHE:-$HOME/.cache/tandem}"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Locked wasm-bindgen version (pkg-scripts/setup installs the CLI at exactly this version).
WASM_BINDGEN_VERSION="$(grep -A1 '^name = "wasm-bindgen"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
export WASM_BINDGEN_VERSION
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# wgpu probes display servers; give it a private runtime dir so it stays quiet on headless machines.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/tandem-xdg-$(id -u)}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
