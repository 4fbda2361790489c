//! The exported surface matches the vendor's: every function of
//! `tests/data/legacy-api.tsv` (a copy of the spec's `legacy-api.tsv`: 111
//! `BRAC_*` + 34 `BRAS_*` functions, 42 callback types) is
//! - exported by the built `libanychat.so` (`nm -D --defined-only`), and
//! - declared by the generated header of its library (`include/anychat.h`
//!   for `BRAC_*`, `include/anychatserver.h` for `BRAS_*`) with exactly the
//!   TSV's return and parameter types, as are the callback typedefs.
//!
//! That the headers compile and link from C and C++ is checked by
//! `tests/c_examples.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const SERVER: &str = env!("CARGO_BIN_EXE_anychat-server");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// Functions being implemented in `src/ffi.rs` / `src/bras_ffi.rs` by a
/// change that has not landed yet: while one is missing, the checks below
/// print a loud warning for it instead of failing. Once they have landed,
/// empty this list so that the test is strict for all 145 functions.
const PENDING: &[&str] = &[];

/// One row of the TSV: a function or a callback type.
struct Item {
    name: String,
    returns: String,
    /// Parameter types, normalised (see [`norm_tsv_param`]).
    params: Vec<String>,
}

impl Item {
    fn is_callback(&self) -> bool {
        self.name.ends_with("_CallBack")
    }
}

/// Whitespace-free type text: `const char *` → `constchar*`, `struct X` → `X`.
fn squash(ty: &str) -> String {
    ty.replace("struct ", "").chars().filter(|c| !c.is_whitespace()).collect()
}

/// A TSV parameter (`DWORD& dwUserNum`, `LPVOID lpUserValue=NULL`,
/// `char FAR* infoval`) as its C type at the ABI level (`DWORD*`, `LPVOID`,
/// `char*`): the default and the name dropped, `&` → `*`, `FAR` removed.
fn norm_tsv_param(p: &str) -> String {
    let p = p.split('=').next().unwrap().replace("FAR", "").replace('&', "*");
    let p = p.trim();
    let name_start = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    squash(&p[..name_start])
}

fn load_tsv() -> Vec<Item> {
    let path = Path::new(MANIFEST_DIR).join("tests/data/legacy-api.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("name\treturns\tparameters"), "unexpected TSV header");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad TSV row: {line:?}");
            let params = match cols[2].trim() {
                "VOID" | "void" | "" => Vec::new(),
                ps => ps.split(',').map(norm_tsv_param).collect(),
            };
            Item { name: cols[0].to_string(), returns: cols[1].to_string(), params }
        })
        .collect()
}

/// The directory holding this build's `libanychat.so`: `deps/` first (always
/// fresh under `cargo test`), then beside the binaries (as tests/c_examples.rs).
fn lib_path() -> PathBuf {
    let bin_dir = Path::new(SERVER).parent().expect("the server binary has a parent directory");
    [bin_dir.join("deps"), bin_dir.to_path_buf()]
        .into_iter()
        .map(|dir| dir.join("libanychat.so"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("libanychat.so not found in {0}/deps or {0}", bin_dir.display()))
}

fn header(name: &str) -> String {
    let path = Path::new(MANIFEST_DIR).join("include").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The text between the `(` that follows `start` and its matching `)`.
fn paren_group(text: &str, start: usize) -> &str {
    let open = start + text[start..].find('(').expect("an opening parenthesis");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses after offset {start}")
}

/// Splits a C parameter list at top-level commas; `void` or nothing → empty.
fn split_params(list: &str) -> Vec<String> {
    let list = list.trim();
    if list.is_empty() || list == "void" {
        return Vec::new();
    }
    let (mut out, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|p| p.trim().to_string()).collect()
}

/// A declared parameter `TYPE name` (function) or `TYPE` (typedef) as its
/// squashed type.
fn decl_param_type(p: &str, named: bool) -> String {
    if !named {
        return squash(p);
    }
    let name_start = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    squash(&p[..name_start])
}

/// (return type, parameter types) of `name` as declared in `text`: a function
/// `RET name(T a, …);` or a typedef `typedef RET (*name)(T, …);`. None when
/// not declared.
fn declaration(text: &str, name: &str, callback: bool) -> Option<(String, Vec<String>)> {
    let mut offset = 0;
    for line in text.lines() {
        let code = !["//", "/*", "*", "#"].iter().any(|c| line.trim_start().starts_with(c));
        let found = code
            && if callback {
                line.starts_with("typedef ") && line.contains(&format!("(*{name})("))
            } else {
                line.split_once('(').is_some_and(|(head, _)| head.split_whitespace().last() == Some(name))
            };
        if found {
            let (ret, params_at) = if callback {
                let ret = line.trim_start_matches("typedef ").split("(*").next().unwrap();
                (squash(ret), offset + line.find(&format!("(*{name})")).unwrap() + name.len() + 3)
            } else {
                let head = line.split('(').next().unwrap();
                (squash(&head[..head.len() - name.len()]), offset)
            };
            let params = split_params(paren_group(text, params_at));
            return Some((ret, params.iter().map(|p| decl_param_type(p, !callback)).collect()));
        }
        offset += line.len() + 1;
    }
    None
}

#[test]
fn tsv_lists_the_whole_vendor_surface() {
    let items = load_tsv();
    let fns: Vec<&Item> = items.iter().filter(|i| !i.is_callback()).collect();
    let count = |prefix: &str| fns.iter().filter(|i| i.name.starts_with(prefix)).count();
    assert_eq!(count("BRAC_"), 111, "BRAC_ functions in the TSV");
    assert_eq!(count("BRAS_"), 34, "BRAS_ functions in the TSV");
    assert_eq!(fns.len(), 145);
    assert_eq!(items.iter().filter(|i| i.is_callback()).count(), 42, "callback types in the TSV");
    let names: BTreeSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names.len(), items.len(), "duplicate names in the TSV");
    for p in PENDING {
        assert!(names.contains(p), "PENDING names {p}, which the TSV does not list");
    }
}

#[test]
fn library_exports_every_function() {
    let lib = lib_path();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run nm (binutils) on {}: {e}", lib.display()));
    assert!(out.status.success(), "nm failed: {}", String::from_utf8_lossy(&out.stderr));
    // Lines are `ADDRESS TYPE NAME`; functions are `T` (text).
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() == 3 && cols[1] == "T").then(|| cols[2].to_string())
        })
        .collect();

    let mut missing = Vec::new();
    let mut pending = Vec::new();
    for item in load_tsv().iter().filter(|i| !i.is_callback()) {
        if !exported.contains(&item.name) {
            if PENDING.contains(&item.name.as_str()) {
                pending.push(item.name.clone());
            } else {
                missing.push(item.name.clone());
            }
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "\n!!!!!!!! WARNING: {} vendor functions still PENDING (not exported yet): {} !!!!!!!!\n",
            pending.len(),
            pending.join(", ")
        );
    }
    assert!(missing.is_empty(), "{} not exported by {}: {}", missing.len(), lib.display(), missing.join(", "));
}

#[test]
fn headers_declare_every_function_and_callback_type_with_the_vendor_types() {
    let client = header("anychat.h");
    let server = header("anychatserver.h");
    let mut errors = Vec::new();
    let mut pending = Vec::new();
    for item in load_tsv() {
        let (own, other, own_name) = if item.name.starts_with("BRAC_") {
            (&client, &server, "anychat.h")
        } else {
            (&server, &client, "anychatserver.h")
        };
        let cb = item.is_callback();
        match declaration(own, &item.name, cb) {
            None if PENDING.contains(&item.name.as_str()) => pending.push(item.name.clone()),
            None => errors.push(format!("{}: not declared in {own_name}", item.name)),
            Some((ret, params)) => {
                if ret != squash(&item.returns) {
                    errors.push(format!("{}: returns {ret}, the vendor's {}", item.name, item.returns));
                }
                if params != item.params {
                    errors.push(format!("{}: parameters {params:?}, the vendor's {:?}", item.name, item.params));
                }
            }
        }
        if declaration(other, &item.name, cb).is_some() {
            errors.push(format!("{}: also declared in the other library's header", item.name));
        }
    }
    if !pending.is_empty() {
        eprintln!(
            "\n!!!!!!!! WARNING: {} vendor functions still PENDING (not declared yet): {} !!!!!!!!\n",
            pending.len(),
            pending.join(", ")
        );
    }
    assert!(errors.is_empty(), "{} header mismatches:\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn header_parser_sees_known_declarations() {
    // Guards the checks above against a parser that finds nothing.
    let client = header("anychat.h");
    let (ret, params) = declaration(&client, "BRAC_GetOnlineUser", false).expect("BRAC_GetOnlineUser");
    assert_eq!((ret.as_str(), params), ("DWORD", vec!["LPDWORD".to_string(), "DWORD*".to_string()]));
    let (ret, params) = declaration(&client, "BRAC_NotifyMessage_CallBack", true).expect("BRAC_NotifyMessage_CallBack");
    assert_eq!(ret, "void");
    assert_eq!(params, ["DWORD", "DWORD", "DWORD", "LPVOID"]);
    assert_eq!(declaration(&client, "BRAC_Release", false).expect("BRAC_Release").1, Vec::<String>::new());
    assert_eq!(norm_tsv_param("const char FAR* optval"), "constchar*");
    assert_eq!(norm_tsv_param("DWORD& dwTaskId"), "DWORD*");
    assert_eq!(norm_tsv_param("LPCTSTR lpStrUserId=NULL"), "LPCTSTR");
    assert_eq!(norm_tsv_param("TCHAR** lpDeviceName"), "TCHAR**");
}
