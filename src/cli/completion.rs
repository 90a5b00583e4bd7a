//! `leasehold completion bash|zsh|fish|elvish|powershell`: a completion script generated from
//! the clap tree itself, so it always lists exactly the commands and flags this build has.

/// `completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the completion script for `args.shell`, generated from the command tree `cli`.
pub fn completion(args: CompletionArgs, mut cli: clap::Command) -> anyhow::Result<()> {
    clap_complete::generate(args.shell, &mut cli, "leasehold", &mut std::io::stdout());
    Ok(())
}
