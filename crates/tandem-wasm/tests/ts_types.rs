//! The package's TypeScript declarations (`ts/*.d.ts`) are the ones the Rust
//! types generate. `TANDEM_BLESS=1` rewrites the files.
#![cfg(feature = "ts")]

use std::path::Path;

#[test]
fn declarations_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ts");
    for (name, generated) in tandem_wasm::ts::files() {
        let path = dir.join(name);
        if std::env::var_os("TANDEM_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "{} is stale: run `TANDEM_BLESS=1 cargo test -p tandem-wasm --features ts --test ts_types`",
            path.display()
        );
    }
}

#[test]
fn every_type_a_declaration_names_is_declared() {
    assert_eq!(tandem_wasm::ts::undeclared(), Vec::<String>::new());
}
