//! Generates the C headers of `include/` from the Rust sources of the
//! `anychat` crate with cbindgen:
//!
//! - `anychat.h`: the client library (`BRAC_*` functions and callback
//!   types, the vendor's types and constants but the business server's);
//! - `anychatserver.h`: the business-server library (`BRAS_*`);
//! - the vendor's header files, split from those two by [`vendor`].
//!
//! The headers are committed; nothing is generated during a build, so a
//! build never writes into the source tree.
//!
//! ```text
//! cargo run -p anychat-headers                # rewrite the generated headers of include/
//! cargo run -p anychat-headers -- --check     # exit 1 when include/ differs (CI)
//! cargo run -p anychat-headers -- --out DIR   # write them into DIR instead
//! ```
//!
//! Which header an item goes into comes from cbindgen's own output: a first
//! pass generates everything, and its functions, types and constants are
//! split by name — `BRAS_*` belong to the business server, `BRAC_*` to the
//! client, the vendor's other constants (those cbindgen finds in
//! `src/wire/constants.rs`) to the client, other types to whichever header
//! uses them. Each header is then generated with the other library's names
//! excluded, so that cbindgen keeps what its functions need, plus every type
//! of `src/abi/types.rs`: the vendor's headers declare them all, used or
//! not, and cbindgen emits only the types something uses, so that file is
//! parsed (with syn) for the names to include.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod vendor;

/// The file, relative to the crate root, whose types are all emitted.
const TYPES_RS: &str = "src/abi/types.rs";
/// The vendor's constants.
const VENDOR_CONSTANTS_RS: &str = "src/wire/constants.rs";

const CLIENT_TITLE: &str = "/*\n * anychat-rs client library (BRAC_*): link with -lanychat (see README.md).\n * Types follow the vendor's Linux headers: DWORD is 32-bit, BOOL and LONG are C long.\n */";
const SERVER_TITLE: &str = "/*\n * anychat-rs business-server library (BRAS_*): link with -lanychat (see README.md).\n * Types follow the vendor's Linux headers: DWORD is 32-bit, BOOL and LONG are C long.\n */";

/// The generated files, by name (in `include/`).
type Headers = BTreeMap<String, String>;

/// The names of the public types and structs of a Rust source file, in order.
fn declared_types(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("read {}: {e}", file.display()))?;
    let ast = syn::parse_file(&text).map_err(|e| format!("parse {}: {e}", file.display()))?;
    let public = |v: &syn::Visibility| matches!(v, syn::Visibility::Public(_));
    Ok(ast
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Type(t) if public(&t.vis) => Some(t.ident.to_string()),
            syn::Item::Struct(s) if public(&s.vis) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect())
}

fn config(root: &Path) -> Result<cbindgen::Config, String> {
    cbindgen::Config::from_file(root.join("cbindgen.toml"))
}

/// Runs cbindgen on the crate with `cbindgen.toml`, plus `include`, minus `exclude`.
fn bindgen(
    root: &Path,
    title: Option<(&str, &str)>,
    include: &[String],
    exclude: &[String],
) -> Result<cbindgen::Bindings, String> {
    let mut config = config(root)?;
    if let Some((guard, header)) = title {
        config.include_guard = Some(guard.to_string());
        config.header = Some(header.to_string());
    }
    config.export.include.extend_from_slice(include);
    config.export.exclude.extend_from_slice(exclude);
    cbindgen::Builder::new().with_crate(root).with_config(config).generate().map_err(|e| format!("cbindgen: {e}"))
}

/// The names of the constants cbindgen finds in one source file.
fn constants_of(root: &Path, file: &str) -> Result<Vec<String>, String> {
    let bindings = cbindgen::Builder::new()
        .with_src(root.join(file))
        .with_config(config(root)?)
        .generate()
        .map_err(|e| format!("cbindgen ({file}): {e}"))?;
    Ok(bindings.constants.iter().map(|c| c.path.name().to_string()).collect())
}

fn text(bindings: &cbindgen::Bindings) -> String {
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

/// Every header, generated in memory.
fn generate(root: &Path) -> Result<Headers, String> {
    let (server_types, client_types): (Vec<String>, Vec<String>) =
        declared_types(&root.join(TYPES_RS))?.into_iter().partition(|n| n.starts_with("BRAS_"));

    // First pass: everything, for the names of what cbindgen emits.
    let all_types: Vec<String> = client_types.iter().chain(&server_types).cloned().collect();
    let all = bindgen(root, None, &all_types, &[])?;
    let functions = all.functions.iter().map(|f| f.path.name().to_string());
    let types = all.items.iter().map(|i| i.deref().name().to_string());
    let constants = all.constants.iter().map(|c| c.path.name().to_string());
    let names: Vec<String> = functions.chain(types).chain(constants).collect();
    if names.is_empty() {
        return Err("cbindgen found nothing to export".into());
    }
    // The vendor's constants (src/wire/constants.rs) go to one header each;
    // other public constants of the crate that cbindgen.toml does not
    // exclude go to both.
    let vendor_constants = constants_of(root, VENDOR_CONSTANTS_RS)?;
    let not_client: Vec<String> = names.iter().filter(|n| n.starts_with("BRAS_")).cloned().collect();
    let not_server: Vec<String> = names
        .iter()
        .filter(|n| n.starts_with("BRAC_"))
        .chain(vendor_constants.iter().filter(|n| !n.starts_with("BRAS_")))
        .cloned()
        .collect();

    let client = text(&bindgen(root, Some(("ANYCHAT_H", CLIENT_TITLE)), &client_types, &not_client)?);
    let server = text(&bindgen(root, Some(("ANYCHATSERVER_H", SERVER_TITLE)), &server_types, &not_server)?);

    // The vendor's header files, split from the two headers above.
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).map_err(|e| format!("read {rel}: {e}"));
    let constants_rs = read(VENDOR_CONSTANTS_RS)?;
    let tsv = read("tests/data/legacy-api.tsv")?;
    let mut headers: Headers = vendor::generate(&client, &server, &constants_rs, &tsv).into_iter().collect();
    headers.insert("anychat.h".into(), client);
    headers.insert("anychatserver.h".into(), server);
    Ok(headers)
}

/// Writes the files whose content changed; returns their names.
fn write(dir: &Path, headers: &Headers) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, content) in headers {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            std::fs::write(&path, content).map_err(|e| format!("write {}: {e}", path.display()))?;
            written.push(name.clone());
        }
    }
    Ok(written)
}

/// The names of the committed headers that differ from the generated ones.
fn stale(dir: &Path, headers: &Headers) -> Vec<String> {
    headers
        .iter()
        .filter(|(name, content)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(content.as_str()))
        .map(|(name, _)| name.clone())
        .collect()
}

const USAGE: &str = "usage: anychat-headers [--check | --out DIR]\n\
    \n  (no option)  rewrite the generated headers of include/\
    \n  --check      exit 1 when a header of include/ differs from what the sources generate\
    \n  --out DIR    write the headers into DIR";

fn main() -> ExitCode {
    // The crate is two levels above this generator.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let include = root.join("include");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (check, out) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => (false, include.clone()),
        ["--check"] => (true, include.clone()),
        ["--out", dir] => (false, PathBuf::from(dir)),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let headers = match generate(&root) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("anychat-headers: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check {
        let stale = stale(&include, &headers);
        if stale.is_empty() {
            println!("include/: the {} generated headers are up to date", headers.len());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "include/ differs from what the sources generate: {}\nregenerate with `cargo run -p anychat-headers` and commit",
            stale.join(", ")
        );
        return ExitCode::FAILURE;
    }
    match write(&out, &headers) {
        Ok(written) if written.is_empty() => {
            println!("{}: the {} headers are up to date", out.display(), headers.len())
        }
        Ok(written) => println!("{}: wrote {}", out.display(), written.join(", ")),
        Err(e) => {
            eprintln!("anychat-headers: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
