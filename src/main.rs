//! The `bsar` command: parse the command line, run it, and turn any failure into one line on
//! stderr and exit status 1 (2 for usage errors, from clap).

use clap::Parser;

fn main() {
    let cli = bsar::cli::Cli::parse();
    // Without the handler an interruption would leave incomplete files behind; say so and go on.
    if let Err(e) = bsar::cli::interrupt::install() {
        eprintln!(
            "bsar: warning: cannot handle interruptions ({e}); an interrupted run may leave \
             incomplete files"
        );
    }
    if let Err(e) = bsar::cli::run(cli) {
        eprintln!("bsar: error: {e}");
        std::process::exit(1);
    }
}
