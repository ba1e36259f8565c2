//! `waveguide-load`: runs one load test and prints its one-line JSON summary.

use std::process::ExitCode;

use clap::Parser;
use waveguide_load::{Options, run};

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(summary) => match serde_json::to_string(&summary) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("waveguide-load: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("waveguide-load: {error}");
            ExitCode::FAILURE
        }
    }
}
