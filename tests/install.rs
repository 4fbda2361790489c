//! `scripts/install.sh` into a temporary prefix, then a C program built with
//! `pkg-config --cflags --libs anychatcore anychatserversdk` links and runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn lib_path() -> PathBuf {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_anychat-server")).parent().unwrap().to_path_buf();
    [bin_dir.join("deps"), bin_dir.clone()]
        .into_iter()
        .map(|d| d.join("libanychat.so"))
        .find(|p| p.is_file())
        .expect("libanychat.so next to the test binaries")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn install_into_a_prefix_and_link_with_pkg_config() {
    for tool in ["patchelf", "pkg-config", "gcc"] {
        assert!(
            Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success()),
            "{tool} is needed (.ci/run installs it)"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prefix = std::env::temp_dir().join(format!("anychat-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&prefix);
    run(Command::new(root.join("scripts/install.sh"))
        .env("PREFIX", &prefix)
        .env("LIB", lib_path())
        .env("BIN", env!("CARGO_BIN_EXE_anychat-server"))
        .env("LDCONFIG", "0"));
    let lib = prefix.join("lib");
    for name in ["anychatcore", "anychatserversdk"] {
        let dynamic = run(Command::new("readelf").arg("-d").arg(lib.join(format!("lib{name}.so"))));
        assert!(dynamic.contains(&format!("Library soname: [lib{name}.so.0]")), "{dynamic}");
    }
    assert!(prefix.join("bin/anychat-server").is_file());

    let pc_path = lib.join("pkgconfig");
    let flags = run(Command::new("pkg-config")
        .args(["--cflags", "--libs", "anychatcore", "anychatserversdk"])
        .env("PKG_CONFIG_PATH", &pc_path));
    let exe = prefix.join("pkgconfig_check");
    let mut gcc = Command::new("gcc");
    gcc.args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
        .arg(root.join("c_examples/pkgconfig_check.c"))
        .arg("-o")
        .arg(&exe)
        .args(flags.split_whitespace());
    run(&mut gcc);
    let needed = run(Command::new("readelf").arg("-d").arg(&exe));
    assert!(needed.contains("[libanychatcore.so.0]"), "linked by SONAME: {needed}");
    // As after ldconfig: the loader finds the SONAME links in the library directory.
    run(Command::new("ldconfig").arg("-n").arg(&lib));
    let out = run(Command::new(&exe).env("LD_LIBRARY_PATH", &lib));
    assert!(out.starts_with("linked anychat-rs "), "{out}");
    let _ = std::fs::remove_dir_all(&prefix);
}
