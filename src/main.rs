//! The `leasehold` binary: the server and the CLI (`leasehold::cli`).

fn main() -> std::process::ExitCode {
    leasehold::cli::main()
}
