//! Splits the two cbindgen headers into the vendor's header files, so that
//! legacy sources compile unchanged: `GVSDK.h` (types, structs),
//! `AnyChatDefine.h`, `AnyChatObjectDefine.h`, `GVErrorCodeDefine.h`,
//! `GVMessageDefine.h` (constants), `BRAnyChatCoreSDK.h` (client callbacks
//! and functions), `typedef.h` and `anychatserversdk.h` (business server).
//!
//! Everything comes from the cbindgen output (so from the Rust code); the
//! only additions are C++ source compatibility taken from the vendor's
//! function list (`tests/data/legacy-api.tsv`): default arguments
//! (`ANYCHAT_DEFAULT(v)`, `= v` in C++, nothing in C) and `DWORD&`
//! parameters (`ANYCHAT_REF(DWORD)`, a reference in C++, a pointer in C).

use std::collections::{BTreeMap, HashSet};

/// One top-level item of a cbindgen header.
enum Item {
    Define { name: String, text: String },
    Typedef { name: String, text: String },
    Function { name: String, text: String },
}

fn ident_before(text: &str, end: usize) -> String {
    let bytes = text[..end].trim_end();
    let start = bytes.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    bytes[start..].to_string()
}

/// Parses the statements of a cbindgen header (comments and guards skipped).
fn parse(text: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut stmt = String::new();
    let mut depth = 0i32;
    for line in text.lines() {
        let t = line.trim();
        if stmt.is_empty() {
            if t.is_empty() || t.starts_with("//") || t.starts_with("/*") || t.starts_with(" *") || t.starts_with('*') {
                continue;
            }
            if let Some(rest) = t.strip_prefix("#define ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if rest.len() > name.len() {
                    items.push(Item::Define { name, text: t.to_string() });
                }
                continue;
            }
            if t.starts_with('#') || t.starts_with("extern \"C\"") || t.starts_with('}') {
                continue;
            }
        }
        stmt.push_str(line);
        stmt.push('\n');
        depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
        if depth == 0 && t.ends_with(';') {
            let s = std::mem::take(&mut stmt);
            let body = s.trim_end().trim_end_matches(';');
            if s.starts_with("typedef") {
                // The name: last identifier, or the one in `(*NAME)`.
                let name = match s.find("(*") {
                    Some(i) if !s.starts_with("typedef struct") => {
                        s[i + 2..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
                    }
                    _ => ident_before(body, body.len()),
                };
                items.push(Item::Typedef { name, text: s });
            } else if let Some(open) = s.find('(') {
                let name = ident_before(&s, open);
                items.push(Item::Function { name, text: s });
            }
        }
    }
    items
}

/// `(type, name, default)` of each parameter, by function name.
type Params = BTreeMap<String, Vec<(String, String, Option<String>)>>;

fn legacy_params(tsv: &str) -> Params {
    let mut out = Params::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            continue;
        }
        let mut params = Vec::new();
        for p in cols[2].split(',') {
            let p = p.trim();
            if p.is_empty() || p == "VOID" || p == "void" {
                continue;
            }
            let (decl, default) = match p.split_once('=') {
                Some((d, v)) => (d.trim(), Some(v.trim().to_string())),
                None => (p, None),
            };
            let split = decl.rfind([' ', '&', '*']).map_or(0, |i| i + 1);
            params.push((decl[..split].trim().to_string(), decl[split..].to_string(), default));
        }
        out.insert(cols[0].to_string(), params);
    }
    out
}

/// Adds the C++ defaults and references of the vendor's declaration.
fn cpp_compat(decl: &str, params: &[(String, String, Option<String>)]) -> String {
    let mut out = decl.to_string();
    for (ty, name, default) in params {
        if let Some(base) = ty.strip_suffix('&') {
            let base = base.trim();
            out = out.replacen(&format!("{base} *{name}"), &format!("ANYCHAT_REF({base}) {name}"), 1);
        }
        if let Some(v) = default {
            for end in [",", ")"] {
                let from = format!("{name}{end}");
                if let Some(i) = out.find(&from) {
                    let before = out[..i].chars().last();
                    if before.is_some_and(|c| c == ' ' || c == '*' || c == ')') {
                        out.replace_range(i..i + from.len(), &format!("{name} ANYCHAT_DEFAULT({v}){end}"));
                        break;
                    }
                }
            }
        }
    }
    out
}

const BANNER: &str = "/* Generated by anychat-headers (build/headers) from the Rust sources (cbindgen output, split into the vendor's file names). Do not edit. */";

const COMPAT: &str = r#"#ifndef ANYCHAT_DEFAULT
#ifdef __cplusplus
#define ANYCHAT_DEFAULT(v) = v
#define ANYCHAT_REF(T) T &
#else
#define ANYCHAT_DEFAULT(v)
#define ANYCHAT_REF(T) T *
#endif
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef FAR
#define FAR
#endif
#ifndef VOID
#define VOID void
#endif
"#;

const MACROS: &str = r#"#ifndef MAKEWORD
#define MAKEWORD(a, b) ((WORD)(((BYTE)(a)) | ((WORD)((BYTE)(b))) << 8))
#define MAKELONG(a, b) ((DWORD)(((WORD)(a)) | ((DWORD)((WORD)(b))) << 16))
#define LOWORD(l) ((WORD)(l))
#define HIWORD(l) ((WORD)(((DWORD)(l) >> 16) & 0xFFFF))
#define LOBYTE(w) ((BYTE)(w))
#define HIBYTE(w) ((BYTE)(((WORD)(w) >> 8) & 0xFF))
#endif
"#;

fn file(guard: &str, includes: &[&str], body: &str) -> String {
    let mut s = format!("{BANNER}\n#ifndef {guard}\n#define {guard}\n\n");
    for inc in includes {
        s.push_str(&format!("#include {inc}\n"));
    }
    if !includes.is_empty() {
        s.push('\n');
    }
    s.push_str(body);
    s.push_str(&format!("\n#endif /* {guard} */\n"));
    s
}

fn extern_c(body: &str) -> String {
    format!(
        "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n{body}\n#ifdef __cplusplus\n}}  /* extern \"C\" */\n#endif\n"
    )
}

/// The vendor-named headers, `(file name, content)`, from the client's and
/// the business server's cbindgen headers, the constants' source (for the
/// vendor file of each: its `// --- <file> ---` section, a plain comment
/// cbindgen does not see) and the vendor's function list.
pub fn generate(client: &str, server: &str, constants_rs: &str, tsv: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut write = |name: &str, content: &str| out.push((name.to_string(), content.to_string()));
    let params = legacy_params(tsv);

    // Which vendor header each constant belongs to.
    let mut group_of = BTreeMap::new();
    let mut group = String::new();
    for line in constants_rs.lines() {
        if let Some(h) = line.strip_prefix("// --- ") {
            group = h.split([' ', '(']).next().unwrap_or("").to_string();
        } else if let Some(rest) = line.strip_prefix("pub const ") {
            let name: String = rest.chars().take_while(|c| *c != ':').collect();
            group_of.insert(name, group.clone());
        }
    }
    let defines = |items: &[Item], header: &str| -> String {
        let mut out = String::new();
        for it in items {
            if let Item::Define { name, text } = it {
                if group_of.get(name).map(String::as_str) == Some(header) {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        out
    };

    let client_items = parse(client);
    let server_items = parse(server);

    // Base types and structs: every typedef not named BRAC_/BRAS_, in
    // cbindgen's (dependency) order, the client header's first.
    let mut seen = HashSet::new();
    let mut base = String::new();
    for it in client_items.iter().chain(server_items.iter()) {
        if let Item::Typedef { name, text } = it {
            if !name.starts_with("BRAC_") && !name.starts_with("BRAS_") && seen.insert(name.clone()) {
                base.push_str(text);
            }
        }
    }
    let gvsdk = format!("{COMPAT}typedef wchar_t WCHAR;\n\n{base}\n{}\n{MACROS}", defines(&client_items, "GVSDK.h"));
    write("GVSDK.h", &file("ANYCHAT_GVSDK_H", &["<stddef.h>", "<stdint.h>", "<wchar.h>"], &gvsdk));
    for h in ["AnyChatDefine.h", "AnyChatObjectDefine.h", "GVErrorCodeDefine.h", "GVMessageDefine.h"] {
        let guard = format!("ANYCHAT_{}", h.replace('.', "_").to_uppercase());
        write(h, &file(&guard, &[], &defines(&client_items, h)));
    }

    // The business server's smaller type set.
    let subset = [
        "DWORD", "CHAR", "TCHAR", "LPCTSTR", "LPTSTR", "INT", "BOOL", "BYTE", "LPDWORD", "LPVOID", "LPBYTE", "LPCHAR",
        "LPCSTR",
    ];
    let mut typedef_h = format!("{COMPAT}\n");
    let mut seen = HashSet::new();
    for it in client_items.iter().chain(server_items.iter()) {
        if let Item::Typedef { name, text } = it {
            if subset.contains(&name.as_str()) && seen.insert(name.clone()) {
                typedef_h.push_str(text);
            }
        }
    }
    typedef_h.push_str("\n#ifndef TRUE\n#define TRUE 1\n#endif\n#ifndef FALSE\n#define FALSE 0\n#endif\n");
    write("typedef.h", &file("ANYCHAT_TYPEDEF_H", &["<stddef.h>", "<stdint.h>"], &typedef_h));

    // Callback typedefs and functions of one library.
    let api = |items: &[Item], prefix: &str| -> (String, String) {
        let (mut types, mut funcs) = (String::new(), String::new());
        for it in items {
            match it {
                Item::Typedef { name, text } if name.starts_with(prefix) => types.push_str(text),
                Item::Function { name, text } if name.starts_with(prefix) => {
                    let decl = match params.get(name) {
                        Some(p) => cpp_compat(text, p),
                        None => text.clone(),
                    };
                    funcs.push_str(&decl);
                    funcs.push('\n');
                }
                _ => {}
            }
        }
        (types, funcs)
    };
    let (types, funcs) = api(&client_items, "BRAC_");
    let core = format!("{types}\n{}", extern_c(&funcs));
    let includes = [
        "\"GVSDK.h\"",
        "\"AnyChatDefine.h\"",
        "\"AnyChatObjectDefine.h\"",
        "\"GVErrorCodeDefine.h\"",
        "\"GVMessageDefine.h\"",
    ];
    write("BRAnyChatCoreSDK.h", &file("ANYCHAT_BRANYCHATCORESDK_H", &includes, &core));

    let (types, funcs) = api(&server_items, "BRAS_");
    let body = format!("{}\n{types}\n{}", defines(&server_items, "anychatserversdk.h"), extern_c(&funcs));
    write("anychatserversdk.h", &file("ANYCHAT_ANYCHATSERVERSDK_H", &["\"typedef.h\""], &body));
    out
}
