//! Generates the C headers with cbindgen from the Rust sources:
//! `include/anychat.h` (client library, `BRAC_*`) and
//! `include/anychatserver.h` (business-server library, `BRAS_*`).
//! The headers are committed; CI rebuilds and fails when they differ.

use std::path::{Path, PathBuf};

#[path = "build/vendor.rs"]
mod vendor;

/// Names of `pub fn` / `pub type` / `pub struct` items in `file` starting
/// with `prefix` ("" for all).
fn items(file: &Path, prefix: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read source");
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        for kw in ["pub unsafe extern \"C\" fn ", "pub extern \"C\" fn ", "pub type ", "pub struct "] {
            if let Some(rest) = line.strip_prefix(kw) {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name.starts_with(prefix) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Constants of `src/wire/constants.rs`, split into (business-server header's, others).
fn constants(file: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(file).expect("read constants");
    let (mut server, mut client) = (Vec::new(), Vec::new());
    let mut in_server = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("// --- ") {
            in_server = h.starts_with("anychatserversdk.h");
        } else if let Some(rest) = line.strip_prefix("pub const ") {
            let name: String = rest.chars().take_while(|c| *c != ':').collect();
            if in_server {
                server.push(name)
            } else {
                client.push(name)
            }
        }
    }
    (server, client)
}

/// Writes `include/<out>`: every item reachable from the crate's exported
/// functions, plus `include`, minus `exclude`.
fn generate(crate_dir: &Path, out: &str, guard: &str, title: &str, include: Vec<String>, exclude: Vec<String>) {
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.include_guard = Some(guard.to_string());
    config.header = Some(title.to_string());
    config.export.include.extend(include);
    config.export.exclude.extend(exclude);
    match cbindgen::Builder::new().with_crate(crate_dir).with_config(config).generate() {
        // write_to_file leaves the file untouched when the content is unchanged.
        Ok(bindings) => {
            bindings.write_to_file(crate_dir.join("include").join(out));
        }
        Err(e) => panic!("cbindgen failed for {out}: {e}"),
    }
}

fn main() {
    for f in [
        "src/abi/brac/api.rs",
        "src/abi/brac/unsupported.rs",
        "src/abi/brac/media.rs",
        "src/abi/types.rs",
        "src/abi/bras/api.rs",
        "src/abi/bras/unsupported.rs",
        "src/wire/constants.rs",
        "cbindgen.toml",
        "build.rs",
        "build/vendor.rs",
        "tests/data/legacy-api.tsv",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let (server_consts, client_consts) = constants(&dir.join("src/wire/constants.rs"));
    let mut brac = items(&dir.join("src/abi/brac/api.rs"), "BRAC_");
    brac.extend(items(&dir.join("src/abi/brac/unsupported.rs"), "BRAC_"));
    brac.extend(items(&dir.join("src/abi/brac/media.rs"), "BRAC_"));
    brac.extend(items(&dir.join("src/abi/types.rs"), "BRAC_"));
    let mut bras = items(&dir.join("src/abi/bras/api.rs"), "BRAS_");
    bras.extend(items(&dir.join("src/abi/bras/unsupported.rs"), "BRAS_"));
    bras.extend(items(&dir.join("src/abi/types.rs"), "BRAS_"));
    // Every type of src/abi/types.rs is emitted even when no function uses
    // it (callback typedefs set only through *_SetCallBack, BITMAPFILEHEADER…):
    // the BRAS_ ones into the server header, all others into the client's.
    let (server_types, client_types): (Vec<String>, Vec<String>) =
        items(&dir.join("src/abi/types.rs"), "").into_iter().partition(|n| n.starts_with("BRAS_"));

    let mut not_client = bras;
    not_client.extend(server_consts);
    generate(
        &dir,
        "anychat.h",
        "ANYCHAT_H",
        "/*\n * anychat-rs client library (BRAC_*): link with -lanychat (see README.md).\n * Types follow the vendor's Linux headers: DWORD is 32-bit, BOOL and LONG are C long.\n */",
        client_types,
        not_client,
    );
    let mut not_server = brac;
    not_server.extend(client_consts);
    generate(
        &dir,
        "anychatserver.h",
        "ANYCHATSERVER_H",
        "/*\n * anychat-rs business-server library (BRAS_*): link with -lanychat (see README.md).\n * Types follow the vendor's Linux headers: DWORD is 32-bit, BOOL and LONG are C long.\n */",
        server_types,
        not_server,
    );
    // The vendor's header files, split from the two headers above.
    let constants_rs = std::fs::read_to_string(dir.join("src/wire/constants.rs")).expect("read constants");
    let tsv = std::fs::read_to_string(dir.join("tests/data/legacy-api.tsv")).expect("read legacy-api.tsv");
    vendor::generate(&dir, &constants_rs, &tsv);
}
