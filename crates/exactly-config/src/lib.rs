//! `exactly-config`: a command's flags from a TOML file, flags on the command line
//! overriding it — the `exactly --config FILE …` of the `exactly` binary, written against
//! any [`clap::Command`] tree, so it knows nothing of exactly's commands: the tree it is
//! given says which tables and keys exist.
//!
//! Layout: one file — [`apply`] (the entry point), [`ConfigError`], and the walk of the
//! command tree it checks the file against.
//!
//! ```
//! use clap::{Arg, Command};
//! use std::ffi::OsString;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cli = Command::new("tool")
//!     .arg(Arg::new("config").long("config").global(true))
//!     .subcommand(Command::new("serve").arg(Arg::new("port").long("port")));
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("tool.toml");
//! std::fs::write(&file, "[serve]\nport = \"8080\"\n")?;
//! let given: Vec<OsString> = vec!["tool".into(), "--config".into(), file.clone().into(), "serve".into()];
//! let args = exactly_config::apply(given, &cli)?;
//! let expected: Vec<OsString> =
//!     vec!["tool".into(), "--config".into(), file.into(), "serve".into(), "--port".into(), "8080".into()];
//! assert_eq!(args, expected);
//! # Ok(())
//! # }
//! ```
//!
//! Each table names a command by its path and holds that command's long flags, spelled as
//! on the command line (`-` or `_` between words):
//!
//! ```toml
//! [endpoint.serve]
//! store = "postgres://127.0.0.1/test"
//! [pipe.recv]
//! listen = "127.0.0.1:7000"
//! insecure = true           # a flag without a value: true gives it, false leaves it out
//! ```
//!
//! Only the table of the command being run is applied, but the whole file is checked first
//! against the commands this binary has: a table that names no command, a key that is no
//! flag of its command, or a value of the wrong shape is a [`ConfigError`], never ignored.
//! A flag given on the command line wins over the file, and so does a flag that conflicts
//! with one given on the command line (`--log` given, `dir` in the file: `--log` is used).
//! Values go through the same parsing as typed flags, so a bad value fails as the flag
//! would, naming the flag.

use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a config file cannot be applied.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `--config` has no file name after it.
    #[error("--config needs a file name")]
    MissingPath,
    /// The file cannot be read.
    #[error("reading config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {path} is not valid TOML: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        source: Box<toml::de::Error>,
    },
    /// A table names no command of the program.
    #[error(
        "config file {path}: [{section}] is not a command of {program} (commands here: {known})"
    )]
    UnknownSection {
        /// The program (the root command's name).
        program: String,
        /// The file.
        path: PathBuf,
        /// The table's dotted name.
        section: String,
        /// The subcommands that exist where the table was.
        known: String,
    },
    /// A key is not a flag of its command.
    #[error(
        "config file {path}: [{section}] has unknown key '{key}' (flags of `{command}`: {known})"
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The table's dotted name.
        section: String,
        /// The key as written.
        key: String,
        /// The program and the command, space-separated.
        command: String,
        /// Its long flags.
        known: String,
    },
    /// A value has a shape its flag cannot take.
    #[error("config file {path}: [{section}] {key}: {reason}")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The table's dotted name.
        section: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// A command path and the flags a config file gives it, still unapplied.
struct Section<'a> {
    path: Vec<String>,
    table: &'a toml::Table,
}

/// `args` (the program name first) with the flags the `--config` file gives the command
/// being run inserted after that command's name; `args` unchanged without `--config`.
pub fn apply(args: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>, ConfigError> {
    let Some(path) = config_path(&args)? else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let table: toml::Table = text.parse().map_err(|source| ConfigError::Parse {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let mut sections = Vec::new();
    let program = cli.get_name();
    collect_sections((&path, program), cli, &table, Vec::new(), &mut sections)?;
    let (command_path, insert_at) = invoked_command(&args, cli);
    let Some(section) = sections
        .iter()
        .find(|s| s.path.iter().eq(command_path.iter()))
    else {
        return Ok(args);
    };
    let Some(command) = find_command(cli, &command_path) else {
        return Ok(args); // `invoked_command` only returns paths that exist
    };
    let given = given_flags(args.iter().skip(insert_at), command);
    let mut injected = Vec::new();
    for (key, value) in section.table {
        let Some(arg) = long_arg(command, key) else {
            continue; // checked by `collect_sections`: not reached
        };
        if is_overridden(command, arg, &given) {
            continue;
        }
        push_flag(
            &path,
            &section.path.join("."),
            key,
            arg,
            value,
            &mut injected,
        )?;
    }
    let mut out = args;
    let tail = out.split_off(insert_at);
    out.extend(injected);
    out.extend(tail);
    Ok(out)
}

/// The file named by `--config FILE` or `--config=FILE` (before any `--`).
fn config_path(args: &[OsString]) -> Result<Option<PathBuf>, ConfigError> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return match iter.next() {
                Some(path) => Ok(Some(PathBuf::from(path))),
                None => Err(ConfigError::MissingPath),
            };
        }
        if let Some(path) = text.strip_prefix("--config=") {
            return Ok(Some(PathBuf::from(path)));
        }
    }
    Ok(None)
}

/// Checks every table of the file against the command tree, collecting the tables that
/// hold flags.
fn collect_sections<'a>(
    (file, program): (&Path, &str),
    command: &Command,
    table: &'a toml::Table,
    path: Vec<String>,
    out: &mut Vec<Section<'a>>,
) -> Result<(), ConfigError> {
    let section = path.join(".");
    let mut has_flags = false;
    for (key, value) in table {
        if let toml::Value::Table(inner) = value {
            let Some(sub) = command.find_subcommand(key) else {
                return Err(ConfigError::UnknownSection {
                    program: program.to_string(),
                    path: file.to_path_buf(),
                    section: join_section(&section, key),
                    known: command
                        .get_subcommands()
                        .map(|c| c.get_name().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let mut inner_path = path.clone();
            inner_path.push(sub.get_name().to_string());
            collect_sections((file, program), sub, inner, inner_path, out)?;
            continue;
        }
        let arg = match path.is_empty() {
            true => None, // the top level has no flags: they go in a command's table
            false => long_arg(command, key),
        };
        let Some(arg) = arg else {
            return Err(ConfigError::UnknownKey {
                path: file.to_path_buf(),
                section: match path.is_empty() {
                    true => "(top level)".to_string(),
                    false => section.clone(),
                },
                key: key.clone(),
                command: std::iter::once(program.to_string())
                    .chain(path.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(" "),
                known: long_flags(command),
            });
        };
        // Every table's values are checked, not only the one of the command being run.
        push_flag(file, &section, key, arg, value, &mut Vec::new())?;
        has_flags = true;
    }
    if has_flags {
        out.push(Section { path, table });
    }
    Ok(())
}

/// The long flags of `command` a file may set, comma-separated.
fn long_flags(command: &Command) -> String {
    let flags: Vec<&str> = command
        .get_arguments()
        .filter_map(Arg::get_long)
        .filter(|long| !matches!(*long, "help" | "version" | "config"))
        .collect();
    match flags.is_empty() {
        true => "none; flags go in a command's table such as [pipe.recv]".to_string(),
        false => flags.join(", "),
    }
}

fn join_section(section: &str, key: &str) -> String {
    match section.is_empty() {
        true => key.to_string(),
        false => format!("{section}.{key}"),
    }
}

/// The argument whose long name is `key` (`_` read as `-`), not `--help`/`--config`.
fn long_arg<'c>(command: &'c Command, key: &str) -> Option<&'c Arg> {
    let long = key.replace('_', "-");
    if matches!(long.as_str(), "help" | "version" | "config") {
        return None;
    }
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long.as_str()))
}

fn find_command<'c>(cli: &'c Command, path: &[&str]) -> Option<&'c Command> {
    let mut command = cli;
    for name in path {
        command = command.find_subcommand(name)?;
    }
    Some(command)
}

/// The subcommand path named on the command line and the index just after its last name
/// (where config flags go). Options between names are skipped with their values.
fn invoked_command<'c>(args: &[OsString], cli: &'c Command) -> (Vec<&'c str>, usize) {
    let mut command = cli;
    let mut path = Vec::new();
    let mut index = 1;
    let mut after = 1;
    while let Some(arg) = args.get(index) {
        let text = arg.to_string_lossy();
        index += 1;
        if text == "--" {
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let takes_value = command
                .get_arguments()
                .chain(cli.get_arguments().filter(|a| a.is_global_set()))
                .find(|a| a.get_long() == Some(long))
                .is_some_and(|a| a.get_action().takes_values());
            if takes_value {
                index += 1;
            }
            continue;
        }
        match command.find_subcommand(text.as_ref()) {
            Some(sub) => {
                command = sub;
                path.push(sub.get_name());
                after = index;
            }
            None => break, // a positional argument of the command reached
        }
    }
    (path, after)
}

/// The argument ids given on the command line after the command's name.
fn given_flags<'a>(args: impl Iterator<Item = &'a OsString>, command: &Command) -> Vec<String> {
    let mut given = Vec::new();
    for arg in args {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        let found = if let Some(long) = text.strip_prefix("--") {
            let long = long.split_once('=').map_or(long, |(name, _)| name);
            command.get_arguments().find(|a| a.get_long() == Some(long))
        } else if let Some(short) = text.strip_prefix('-').and_then(|s| s.chars().next()) {
            command
                .get_arguments()
                .find(|a| a.get_short() == Some(short))
        } else {
            None
        };
        if let Some(arg) = found {
            given.push(arg.get_id().to_string());
        }
    }
    given
}

/// Whether the command line gives `arg`, or an argument that cannot be used with it
/// (clap records a conflict on the side that declares it: both sides are asked).
fn is_overridden(command: &Command, arg: &Arg, given: &[String]) -> bool {
    let id = arg.get_id().as_str();
    given.iter().any(|given_id| {
        if given_id == id {
            return true;
        }
        let declared_here = command
            .get_arg_conflicts_with(arg)
            .iter()
            .any(|conflict| conflict.get_id().as_str() == given_id);
        let declared_there = command
            .get_arguments()
            .find(|a| a.get_id().as_str() == given_id)
            .is_some_and(|given_arg| {
                command
                    .get_arg_conflicts_with(given_arg)
                    .iter()
                    .any(|conflict| conflict.get_id().as_str() == id)
            });
        declared_here || declared_there
    })
}

/// Appends `--long value` (or `--long` for a switch) for one key.
fn push_flag(
    file: &Path,
    section: &str,
    key: &str,
    arg: &Arg,
    value: &toml::Value,
    out: &mut Vec<OsString>,
) -> Result<(), ConfigError> {
    let bad = |reason: String| ConfigError::BadValue {
        path: file.to_path_buf(),
        section: section.to_string(),
        key: key.to_string(),
        reason,
    };
    let flag = format!("--{}", key.replace('_', "-"));
    if !arg.get_action().takes_values() {
        return match (value, arg.get_action()) {
            (toml::Value::Boolean(true), ArgAction::SetTrue) => {
                out.push(flag.into());
                Ok(())
            }
            (toml::Value::Boolean(false), ArgAction::SetTrue) => Ok(()),
            (toml::Value::Boolean(_), _) => Err(bad("this flag cannot be set from a file".into())),
            (other, _) => Err(bad(format!(
                "a flag without a value takes true or false, not {}",
                other.type_str()
            ))),
        };
    }
    let values: Vec<&toml::Value> = match value {
        toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => {
            items.iter().collect()
        }
        toml::Value::Array(_) => {
            return Err(bad("this flag takes one value, not an array".into()));
        }
        single => vec![single],
    };
    for value in values {
        let text = match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(bad(format!(
                    "takes a string, number or boolean, not {}",
                    other.type_str()
                )))
            }
        };
        out.push(flag.clone().into());
        out.push(text.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cli() -> Command {
        Command::new("exactly")
            .arg(Arg::new("config").long("config").global(true))
            .subcommand(
                Command::new("pipe").subcommand(
                    Command::new("recv")
                        .arg(Arg::new("listen").long("listen"))
                        .arg(Arg::new("dir").long("dir"))
                        .arg(Arg::new("log").long("log").conflicts_with("dir"))
                        .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue))
                        .arg(Arg::new("peer").long("peer").action(ArgAction::Append)),
                ),
            )
    }

    fn args(text: &str) -> Vec<OsString> {
        text.split_whitespace().map(OsString::from).collect()
    }

    fn apply_with(config: &str, command_line: &str) -> Result<Vec<String>, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config).expect("write config");
        let line = command_line.replace("FILE", &path.display().to_string());
        let out = apply(args(&line), &cli())?;
        Ok(out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn the_invoked_command_is_found_past_option_values() {
        let cli = cli();
        let (path, after) = invoked_command(&args("exactly --config f pipe recv --listen x"), &cli);
        assert_eq!((path, after), (vec!["pipe", "recv"], 5));
    }

    #[test]
    fn flags_are_inserted_after_the_command_and_the_command_line_wins() {
        let config =
            "[pipe.recv]\nlisten = \"a:1\"\nquiet = true\npeer = [\"p\", \"q\"]\ndir = \"d\"\n";
        let out = apply_with(
            config,
            "exactly --config FILE pipe recv --listen b:2 --log n",
        )
        .expect("applies");
        let tail: Vec<&str> = out.iter().skip(5).map(String::as_str).collect();
        // `listen` given, `dir` conflicts with the given `--log`: neither is taken. (Keys
        // come in the table's sorted order.)
        assert_eq!(
            tail,
            ["--peer", "p", "--peer", "q", "--quiet", "--listen", "b:2", "--log", "n"]
        );
    }

    #[test]
    fn unknown_tables_keys_and_shapes_are_errors() {
        let run = |config: &str| apply_with(config, "exactly --config FILE pipe recv");
        assert!(matches!(
            run("[pipe.recieve]\n"),
            Err(ConfigError::UnknownSection { .. })
        ));
        assert!(matches!(
            run("[pipe.recv]\nlisen = 1\n"),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(matches!(
            run("quiet = true\n"),
            Err(ConfigError::UnknownKey { .. })
        ));
        assert!(matches!(
            run("[pipe.recv]\nquiet = 1\n"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            run("[pipe.recv]\nlisten = [\"a\"]\n"),
            Err(ConfigError::BadValue { .. })
        ));
        assert!(matches!(
            run("[pipe.recv\n"),
            Err(ConfigError::Parse { .. })
        ));
        // A value is checked even where the command line overrides it.
        assert!(matches!(
            apply_with(
                "[pipe.recv]\nquiet = 1\n",
                "exactly --config FILE pipe recv --quiet"
            ),
            Err(ConfigError::BadValue { .. })
        ));
        // A switch set to false is left out; another command's table is checked, not applied.
        assert_eq!(
            apply_with(
                "[pipe.recv]\nquiet = false\n",
                "exactly --config=FILE pipe recv"
            )
            .expect("applies")
            .len(),
            4
        );
    }
}
