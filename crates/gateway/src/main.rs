//! The `gateway` binary: command line (`run`, `validate`, `reload`, `config`) and process start-up.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod access_log;
mod admin;
mod balancer;
mod buffering;
mod cli;
mod client_conn;
mod cluster;
mod config_store;
mod control;
mod dns;
mod lifecycle;
mod limits;
mod log_record;
mod metrics;
mod plugins;
mod proxy;
mod proxy_protocol;
mod reload;
mod responses;
mod server;
mod snapshot;
mod state;
mod stream;
mod text;
mod tls;
mod upstream_tls;
mod watch;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Pingora never handles SIGHUP and its default action kills the process: ignore it before
    // anything else runs, the reload service installs its own handler later.
    ignore_sighup();
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Validate(args) => cli::validate(&args),
        cli::Command::Reload(args) => cli::reload(&args),
        cli::Command::Run(args) => server::run(args),
        cli::Command::Config(cli::ConfigCommand::Push { file, config }) => {
            config_store::cli::push(&config, &file)
        }
        cli::Command::Config(cli::ConfigCommand::Pull { config, output }) => {
            config_store::cli::pull(&config, output.as_deref())
        }
    }
}

#[allow(unsafe_code)]
fn ignore_sighup() {
    // SAFETY: called first thing in `main`, before any thread exists; SIG_IGN is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}
