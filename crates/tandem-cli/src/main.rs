//! `tandem`: the native command line.
//!
//! Runs the same pure crates the browser runs, so the shield can be used
//! in scripts, evaluated on labeled data and benchmarked without a browser.

mod demo;
mod digest;
mod eval;
mod generate;
mod gguf;
mod idle;
mod local;
mod manifest;
mod models;
mod pull;
mod rank_tokens;
mod redact;
mod router;
mod seal;
mod serve;
mod speculate;
mod synthetic;
mod target;
mod verify_curve;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Tandem: private, cheap, fast AI across the browser and the edge.
#[derive(Parser)]
#[command(name = "tandem", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Redact an embedded sample message and restore a streamed reply.
    Demo,
    /// The PII shield.
    #[command(subcommand)]
    Shield(ShieldCommand),
    /// Generate text with a local model, streaming tokens and reporting tok/s.
    Generate(generate::Args),
    /// What the local model's answers are worth.
    #[command(subcommand)]
    Local(local::Command),
    /// The known models, and the manifest of a model folder for the web package.
    #[command(subcommand)]
    Models(models::Command),
    /// Inspect GGUF model files.
    #[command(subcommand)]
    Gguf(gguf::Command),
    /// Serve the OpenAI-compatible edge gateway natively (the worker's logic, without workerd).
    Serve(serve::Args),
    /// Speculative decoding: draft here, verify in process or at a verifier over HTTP.
    Speculate(speculate::Args),
    /// The sealed channel between clients and the edge.
    #[command(subcommand)]
    Seal(seal::Command),
    /// The on-device router: local model or cloud, per query.
    #[command(subcommand)]
    Router(router::Command),
    /// Time a forward over k new positions on a cached context (speculative verification's cost).
    VerifyCurve(verify_curve::Args),
}

#[derive(Subcommand)]
enum ShieldCommand {
    /// Redact a text (argument or stdin) and print the result.
    Redact(redact::Args),
    /// Score the shield on a labeled data set and measure its throughput.
    Eval(eval::Args),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Demo => demo::run(),
        Command::Shield(ShieldCommand::Redact(args)) => redact::run(args),
        Command::Shield(ShieldCommand::Eval(args)) => eval::run(args),
        Command::Gguf(cmd) => gguf::run(cmd),
        Command::Models(cmd) => models::run(cmd),
        Command::Generate(args) => generate::run(args),
        Command::Local(cmd) => local::run(cmd),
        Command::Seal(cmd) => seal::run(cmd),
        Command::Serve(args) => serve::run(args),
        Command::Speculate(args) => speculate::run(args),
        Command::Router(cmd) => router::run(cmd),
        Command::VerifyCurve(args) => verify_curve::run(args),
    }
}
