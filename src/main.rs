//! The `wucache` binary: everything lives in the library; see `wucache::cli`.

fn main() -> std::process::ExitCode {
    wucache::cli::main()
}
