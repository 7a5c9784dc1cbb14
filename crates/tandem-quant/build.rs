//! Builds the relaxed-SIMD module (`relaxed/kernel.rs`) when the crate is
//! compiled for wasm32, and checks that it can share the main module's
//! memory: its only import is that memory and it has no data segments.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    // The module's own file and the main crates' files it includes.
    for file in [
        "relaxed/kernel.rs",
        "src/int8_tiles.rs",
        "src/tiled_rows.rs",
        "src/wasm_tile.rs",
        "src/dot.rs",
        "src/q8.rs",
        "../tandem-gguf/src/k_scale.rs",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("relaxed.wasm");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // The threaded build's memory is shared (atomics): each thread then
    // instantiates this module with it, which needs an import declared
    // shared, with the most memory wasm32 has as its maximum.
    let shared = std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|f| f == "atomics"));
    let memory_args: &[&str] = if shared {
        &[
            "-Ctarget-feature=+simd128,+relaxed-simd,+atomics,+bulk-memory",
            "-Clink-arg=--shared-memory",
            "-Clink-arg=--max-memory=4294967296",
        ]
    } else {
        &["-Ctarget-feature=+simd128,+relaxed-simd"]
    };
    let status = Command::new(rustc)
        .args([
            "--edition=2024",
            "--crate-type=cdylib",
            "--crate-name=tandem_relaxed_simd",
            "--target=wasm32-unknown-unknown",
            "-Copt-level=3",
            // One unit with `core`'s bitcode: LLVM then sees that the panic
            // handler ignores its message and drops the messages (which
            // would be data segments).
            "-Clto=fat",
            "-Ccodegen-units=1",
            "-Cpanic=abort",
            "-Cdebuginfo=0",
            "-Cstrip=symbols",
            "-Clink-arg=--import-memory",
            "-Clink-arg=--export=__stack_pointer",
        ])
        .args(memory_args)
        .arg("-o")
        .arg(&out)
        .arg("relaxed/kernel.rs")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run rustc for the relaxed-SIMD module");
    assert!(status.success(), "the relaxed-SIMD module did not compile");
    let bytes = std::fs::read(&out).expect("read the relaxed-SIMD module");
    if let Err(why) = check(&bytes, shared) {
        panic!("the relaxed-SIMD module cannot share the main module's memory: {why}");
    }
}

/// Refuses a module that imports anything but `env.memory` (shared or not,
/// as the main module's), or that has data segments (they would be written
/// into the main module's memory) or a start function.
fn check(wasm: &[u8], shared: bool) -> Result<(), String> {
    let mut at = 8;
    let mut imports = None;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb(wasm, &mut at)? as usize;
        let body = wasm.get(at..at + size).ok_or("truncated section")?;
        match id {
            2 => imports = Some(import_names(body)?),
            8 => return Err("it has a start function".into()),
            11 | 12 => return Err("it has data segments".into()),
            _ => {}
        }
        at += size;
    }
    match imports.as_deref() {
        Some([(module, name, 2, flag)]) if module == "env" && name == "memory" => {
            // Limits flag 3: shared, with a maximum.
            if (*flag == 3) == shared {
                Ok(())
            } else {
                Err(format!(
                    "its memory's limits flag is {flag}, and the main module's memory is {}shared",
                    if shared { "" } else { "not " }
                ))
            }
        }
        other => Err(format!("its imports are {other:?}, not env.memory alone")),
    }
}

/// `(module, name, kind, limits flag)` of each import (the flag of a
/// memory; 0 for the others).
fn import_names(body: &[u8]) -> Result<Vec<(String, String, u8, u8)>, String> {
    let mut at = 0;
    let count = leb(body, &mut at)?;
    let mut out = Vec::new();
    for _ in 0..count {
        let module = name(body, &mut at)?;
        let field = name(body, &mut at)?;
        let kind = *body.get(at).ok_or("truncated import")?;
        at += 1;
        if kind != 2 {
            out.push((module, field, kind, 0));
            break;
        }
        // Memory limits: a flag, a minimum and, with flag 1, a maximum.
        let flag = *body.get(at).ok_or("truncated limits")?;
        at += 1;
        leb(body, &mut at)?;
        if flag & 1 == 1 {
            leb(body, &mut at)?;
        }
        out.push((module, field, kind, flag));
    }
    Ok(out)
}

fn name(body: &[u8], at: &mut usize) -> Result<String, String> {
    let len = leb(body, at)? as usize;
    let bytes = body.get(*at..*at + len).ok_or("truncated name")?;
    *at += len;
    String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
}

fn leb(bytes: &[u8], at: &mut usize) -> Result<u32, String> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*at).ok_or("truncated number")?;
        *at += 1;
        value |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("number too long".into())
}
