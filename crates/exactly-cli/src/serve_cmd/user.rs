//! `exactly serve user add|remove|list`: the SASL users file. A password is read from
//! standard input (its first line) or from an environment variable, never from the
//! command line, where other local users could read it in the process list
//! (`exactly_kafka::security::password`).

use anyhow::ensure;
use clap::{Args, Subcommand};
use exactly_kafka::security::password::read_password;
use exactly_kafka::security::users::{Users, DEFAULT_ITERATIONS};
use std::path::PathBuf;

/// `exactly serve user …`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user, or set an existing user's password.
    Add(AddArgs),
    /// Remove a user.
    Remove(NameArgs),
    /// List the users.
    List(FileArgs),
}

/// The users file.
#[derive(Args, Debug)]
pub struct FileArgs {
    /// The users file (created if missing, mode 0600).
    #[arg(long)]
    users_file: PathBuf,
}

/// A user of the users file.
#[derive(Args, Debug)]
pub struct NameArgs {
    /// The user name.
    name: String,
    #[command(flatten)]
    file: FileArgs,
}

/// `exactly serve user add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    user: NameArgs,
    /// Read the password from this environment variable instead of standard input.
    #[arg(long)]
    password_env: Option<String>,
    /// PBKDF2 iterations of the SCRAM credentials.
    #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
    iterations: u32,
}

/// Runs a `serve user` command.
pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => {
            let password = read_password(args.password_env.as_deref(), std::io::stdin().lock())?;
            let path = &args.user.file.users_file;
            Users::add_to_file(path, &args.user.name, password.as_bytes(), args.iterations)?;
            eprintln!("user {} saved in {}", args.user.name, path.display());
        }
        UserCommand::Remove(args) => {
            let removed = Users::remove_from_file(&args.file.users_file, &args.name)?;
            ensure!(removed, "no user {:?}", args.name);
        }
        UserCommand::List(args) => {
            for name in Users::load(&args.users_file)?.names() {
                println!("{name}");
            }
        }
    }
    Ok(())
}
