//! Build information for the programs' `--version`: the git commit the
//! sources come from (`ANYCHAT_GIT_COMMIT`), or `unknown` outside a git
//! checkout (a source tarball).
//! `ANYCHAT_GIT_COMMIT` set in the build's environment wins (packagers).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=ANYCHAT_GIT_COMMIT");
    let commit = match std::env::var("ANYCHAT_GIT_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(c) => {
                // Run again when HEAD moves (a commit, a checkout).
                let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
                watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
                for path in watch {
                    if let Some(p) = git(&["rev-parse", "--git-path", &path]) {
                        if std::path::Path::new(&p).exists() {
                            println!("cargo:rerun-if-changed={p}");
                        }
                    }
                }
                c
            }
            None => "unknown".to_string(),
        },
    };
    println!("cargo:rustc-env=ANYCHAT_GIT_COMMIT={commit}");
}
