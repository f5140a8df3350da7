//! `trailwatch`: the command-line tool.
#![forbid(unsafe_code)]

mod backfill_cmd;
mod match_cmd;
mod progress;
mod redrive_cmd;
mod scan_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "trailwatch",
    version,
    about = "Watch a CloudTrail trail: match records against CloudWatch Logs filter patterns and rule sets."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Match CloudTrail records against a filter pattern or a built-in rule set.
    Match(match_cmd::MatchArgs),
    /// Verify CloudTrail digest and log file integrity between two times (stricter than
    /// `aws cloudtrail validate-logs`). Exit status: 0 PASS/WARN, 1 FAIL, 2 usage or infrastructure error.
    Verify(verify_cmd::VerifyArgs),
    /// Run the alerter's rules over CloudTrail files or an S3 prefix and print the alerts it
    /// would send (back-testing a rule against history). Exit status: 0 done, 2 a file could
    /// not be read to its end or a usage error.
    Scan(scan_cmd::ScanArgs),
    /// Re-invoke the events kept in a function's failure queue (the on-failure destination),
    /// deleting each message once Lambda has accepted it.
    Redrive(redrive_cmd::RedriveArgs),
    /// Run a function over a trail's history on S3 Batch Operations: `start` a job, follow its
    /// `status`, summarise its completion `report`.
    Backfill(backfill_cmd::BackfillArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Match(args) => match_cmd::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Scan(args) => scan_cmd::run(args),
        Command::Redrive(args) => redrive_cmd::run(args),
        Command::Backfill(args) => backfill_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trailwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}
