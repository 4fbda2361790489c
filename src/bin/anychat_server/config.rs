//! The server's settings from four places, with the flags of its clap struct
//! as the one source of truth: every flag `--some-flag` is also the key
//! `some-flag` (or `some_flag`) of the TOML configuration file and the
//! environment variable `ANYCHAT_SOME_FLAG`. A flag added to the struct gets
//! both at once; nothing here names a flag but the few that are not
//! settings ([`META`]).
//!
//! Precedence: command line > environment > file > the flag's default.
//! Every value from the environment or the file goes through the flag's own
//! parser, alone, so that a bad one is refused naming where it came from.
//!
//! How values are written:
//! - a flag with a value: a TOML string, integer, float or boolean (taken as
//!   its text); in the environment, the text;
//! - a switch (a flag without value): `true`/`false` in TOML; in the
//!   environment `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`;
//! - a repeatable flag: a TOML array (or one value); in the environment the
//!   values separated by spaces.
//!
//! An empty environment variable counts as unset.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

/// Flags that are not settings: no key, no environment variable
/// (`config` has one: `ANYCHAT_CONFIG`).
pub const META: &[&str] = &["config", "print-config", "help", "version"];

/// The prefix of the environment variables.
pub const ENV_PREFIX: &str = "ANYCHAT_";

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Flag => "command line",
            Source::Env => "environment",
            Source::File => "config file",
            Source::Default => "default",
        })
    }
}

/// One setting as it came out: its key, its values as text (none: unset),
/// and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub values: Vec<String>,
    pub switch: bool,
    pub repeatable: bool,
    pub source: Source,
}

/// The parsed struct and how each setting was found.
#[derive(Debug)]
pub struct Loaded<T> {
    pub args: T,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Every setting, in the order of the flags.
    pub settings: Vec<Setting>,
}

impl<T> Loaded<T> {
    pub fn source(&self, key: &str) -> Source {
        self.settings.iter().find(|s| s.key == key).map_or(Source::Default, |s| s.source)
    }

    /// The settings as a TOML configuration file that gives the same values
    /// (each with where it came from as a comment).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!("# configuration file: {}\n", f.display()));
        }
        for s in &self.settings {
            // Numbers bare, the rest as TOML strings.
            let quote = |v: &String| {
                let number = v.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    && (v.parse::<i64>().is_ok() || v.parse::<f64>().is_ok_and(f64::is_finite));
                if number {
                    v.clone()
                } else {
                    toml::Value::String(v.clone()).to_string()
                }
            };
            let line = if s.switch {
                format!("{} = {}", s.key, s.values.first().is_some_and(|v| v == "true"))
            } else if s.repeatable {
                format!("{} = [{}]", s.key, s.values.iter().map(quote).collect::<Vec<_>>().join(", "))
            } else if let Some(v) = s.values.first() {
                format!("{} = {}", s.key, quote(v))
            } else {
                format!("# {} = (not set)", s.key)
            };
            out.push_str(&format!("{line:<50} # {}\n", s.source));
        }
        out
    }
}

/// Why the settings could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The command line (clap prints it, `--help` and `--version` too).
    Clap(clap::Error),
    /// The file or the environment: a message naming the key.
    Bad(String),
}

/// The environment variable of a flag (`--ring-timeout` → `ANYCHAT_RING_TIMEOUT`).
pub fn env_name(long: &str) -> String {
    format!("{ENV_PREFIX}{}", long.to_uppercase().replace('-', "_"))
}

fn settings_of(cmd: &Command) -> impl Iterator<Item = (&Arg, &str)> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional())
        .filter_map(|a| a.get_long().map(|l| (a, l)))
        .filter(|(_, l)| !META.contains(l))
}

fn is_switch(a: &Arg) -> bool {
    !a.get_action().takes_values()
}

fn is_repeatable(a: &Arg) -> bool {
    matches!(a.get_action(), ArgAction::Append)
}

/// The help's closing text: where else settings come from.
pub fn after_help(default_file: &Path) -> String {
    format!(
        "Every flag is also a key of the configuration file (TOML; `--ring-timeout 30` is `ring-timeout = 30`; \
         switches take true/false, repeatable flags an array) and an environment variable (ANYCHAT_RING_TIMEOUT=30). \
         Precedence: command line, then environment, then file, then default. The file is --config FILE \
         (or ANYCHAT_CONFIG), else {} when it exists. --print-config shows every setting and where it came from.",
        default_file.display()
    )
}

/// Loads `T` from the command line `cli` (with the program name first), the
/// environment (`env`) and the configuration file (`--config`,
/// `ANYCHAT_CONFIG`, else `default_file` if it exists).
pub fn load<T: FromArgMatches + clap::CommandFactory>(
    cli: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
    default_file: &Path,
) -> Result<Loaded<T>, LoadError> {
    let cmd = T::command().after_help(after_help(default_file));
    let given = cmd.clone().try_get_matches_from(cli).map_err(LoadError::Clap)?;
    let env = |name: &str| env(name).filter(|v| !v.is_empty());

    // The file: named (it must exist), or the default one if present.
    let named = given
        .get_raw("config")
        .and_then(|mut v| v.next())
        .map(PathBuf::from)
        .or_else(|| env(&env_name("config")).map(PathBuf::from));
    let file = match named {
        Some(f) => Some(f),
        None if default_file.is_file() => Some(default_file.to_path_buf()),
        None => None,
    };
    let table = match &file {
        Some(f) => read_table(f)?,
        None => toml::Table::new(),
    };
    let fname = file.as_ref().map(|f| f.display().to_string()).unwrap_or_default();

    // Every key of the file must be a flag's.
    let known: BTreeMap<&str, &Arg> = settings_of(&cmd).map(|(a, l)| (l, a)).collect();
    let mut from_file: BTreeMap<&str, &toml::Value> = BTreeMap::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        match known.get_key_value(long.as_str()) {
            Some((l, _)) => {
                if from_file.insert(l, value).is_some() {
                    return Err(LoadError::Bad(format!("config file {fname}: key `{key}` is given twice")));
                }
            }
            None if META.contains(&long.as_str()) => {
                return Err(LoadError::Bad(format!("config file {fname}: key `{key}` cannot be set in the file")));
            }
            None => {
                let keys: Vec<&str> = known.keys().copied().collect();
                return Err(LoadError::Bad(format!(
                    "config file {fname}: unknown key `{key}` (the keys are the flags' names: {})",
                    keys.join(", ")
                )));
            }
        }
    }

    let program = cli.first().cloned().unwrap_or_else(|| OsString::from(cmd.get_name()));
    let mut argv = vec![program.clone()];
    let mut sources = BTreeMap::new();
    for (arg, long) in settings_of(&cmd) {
        // Every value given in the environment or the file is checked, even
        // one that a stronger place overrides.
        let var = env_name(long);
        let from_env = match env(&var) {
            Some(v) => {
                let place = format!("environment variable {var}");
                let pieces = env_pieces(arg, long, &v).map_err(|e| LoadError::Bad(format!("{place}: {e}")))?;
                check(&cmd, &program, &pieces, &place)?;
                Some(pieces)
            }
            None => None,
        };
        let in_file = match from_file.get(long) {
            Some(v) => {
                let place = format!("config file {fname}: key `{long}`");
                let pieces = toml_pieces(arg, long, v).map_err(|e| LoadError::Bad(format!("{place}: {e}")))?;
                check(&cmd, &program, &pieces, &place)?;
                Some(pieces)
            }
            None => None,
        };
        let source = if given.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            Source::Flag
        } else if let Some(pieces) = from_env {
            argv.extend(pieces);
            Source::Env
        } else if let Some(pieces) = in_file {
            argv.extend(pieces);
            Source::File
        } else {
            Source::Default
        };
        sources.insert(long.to_string(), source);
    }
    argv.extend(cli.iter().skip(1).cloned());
    let matches = cmd.clone().try_get_matches_from(argv).map_err(LoadError::Clap)?;
    let args = T::from_arg_matches(&matches).map_err(LoadError::Clap)?;
    let settings = settings_of(&cmd)
        .map(|(arg, long)| Setting {
            key: long.to_string(),
            values: raw_values(&matches, arg),
            switch: is_switch(arg),
            repeatable: is_repeatable(arg),
            source: sources.get(long).copied().unwrap_or(Source::Default),
        })
        .collect();
    Ok(Loaded { args, file, settings })
}

/// The flag's own parser judges the value, alone; a bad one is refused
/// naming `place`.
fn check(cmd: &Command, program: &OsString, pieces: &[OsString], place: &str) -> Result<(), LoadError> {
    let mut alone = vec![program.clone()];
    alone.extend(pieces.iter().cloned());
    match cmd.clone().try_get_matches_from(alone) {
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::InvalidValue
                    | clap::error::ErrorKind::ValueValidation
                    | clap::error::ErrorKind::InvalidUtf8
                    | clap::error::ErrorKind::WrongNumberOfValues
                    | clap::error::ErrorKind::TooManyValues
            ) =>
        {
            Err(LoadError::Bad(format!("{place}: {}", first_line(&e))))
        }
        _ => Ok(()),
    }
}

fn raw_values(m: &ArgMatches, arg: &Arg) -> Vec<String> {
    match m.get_raw(arg.get_id().as_str()) {
        Some(vals) => vals.map(|v| v.to_string_lossy().into_owned()).collect(),
        None => Vec::new(),
    }
}

/// Clap's message without its `error: ` and its advice lines.
fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

fn read_table(f: &Path) -> Result<toml::Table, LoadError> {
    let text = std::fs::read_to_string(f)
        .map_err(|e| LoadError::Bad(format!("cannot read the config file {}: {e}", f.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| LoadError::Bad(format!("config file {}: {}", f.display(), e.to_string().trim_end())))
}

/// The command-line words that give `long` the TOML value `v`.
fn toml_pieces(arg: &Arg, long: &str, v: &toml::Value) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!("--{long}"));
    if is_switch(arg) {
        return match v {
            toml::Value::Boolean(true) => Ok(vec![flag]),
            toml::Value::Boolean(false) => Ok(vec![]),
            other => Err(format!("expected true or false, found {}", other.type_str())),
        };
    }
    let scalar = |v: &toml::Value| -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            other => Err(format!("expected a value, found {}", other.type_str())),
        }
    };
    let values = match v {
        toml::Value::Array(items) if is_repeatable(arg) => items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?,
        toml::Value::Array(_) => return Err("expected one value, found an array".into()),
        one => vec![scalar(one)?],
    };
    Ok(with_values(long, values))
}

/// `--long=value` for each value (a value may start with `-`).
fn with_values(long: &str, values: Vec<String>) -> Vec<OsString> {
    values.into_iter().map(|v| OsString::from(format!("--{long}={v}"))).collect()
}

/// The command-line words that give `long` the environment value `v`.
fn env_pieces(arg: &Arg, long: &str, v: &str) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!("--{long}"));
    if is_switch(arg) {
        return match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(vec![flag]),
            "0" | "false" | "no" | "off" => Ok(vec![]),
            _ => Err(format!("'{v}' is not a switch value (1, true, yes, on, 0, false, no, off)")),
        };
    }
    let values =
        if is_repeatable(arg) { v.split_whitespace().map(String::from).collect() } else { vec![v.to_string()] };
    Ok(with_values(long, values))
}
