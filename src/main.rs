//! The `distrffmpeg` binary: hands argv to the app and exits with its code.

fn main() -> std::process::ExitCode {
    distrffmpeg::app::main(std::env::args_os().skip(1).collect())
}
