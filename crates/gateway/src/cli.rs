//! Command-line interface: the `run`, `validate`, `reload` and `config` subcommands and their flags.

use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A Pingora-based API gateway that authenticates requests with OAuth 2.0 token introspection.
#[derive(Parser, Debug)]
#[command(name = "gateway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the proxy and the Admin API with the given config file.
    Run(RunArgs),
    /// Check a config file like `nginx -t`: print `OK` or every error, exit non-zero on errors.
    Validate(ValidateArgs),
    /// Ask a running gateway to re-read its config file (sends SIGHUP to the pid in its pid file).
    Reload(ReloadArgs),
    /// Move the declarative document into or out of etcd (`gateway.config_store: {kind: etcd}`).
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `gateway config push|pull`.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate FILE, then write it to etcd as the configuration every node applies.
    Push {
        /// The declarative file (a `gateway:` block in it is left out).
        file: PathBuf,
        /// The node's config file, whose `gateway.config_store` names the etcd cluster.
        #[arg(short = 'c', long = "config", default_value = "gateway.yaml")]
        config: PathBuf,
    },
    /// Print the configuration held in etcd (or write it to `--output`).
    Pull {
        /// The node's config file, whose `gateway.config_store` names the etcd cluster.
        #[arg(short = 'c', long = "config", default_value = "gateway.yaml")]
        config: PathBuf,
        /// Write the document to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

/// Flags of `gateway run`. Each setting overrides the `gateway:` block of the config file.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The config file (Kong declarative format plus a `gateway:` block).
    #[arg(
        short = 'c',
        long = "config",
        env = "GATEWAY_CONFIG",
        default_value = "gateway.yaml"
    )]
    pub config: PathBuf,
    /// Proxy listen address, e.g. `0.0.0.0:8000`.
    #[arg(long, env = "GATEWAY_PROXY_LISTEN")]
    pub proxy_listen: Option<String>,
    /// Admin API listen address, e.g. `127.0.0.1:8001`.
    #[arg(long, env = "GATEWAY_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Proxy worker threads.
    #[arg(long, env = "GATEWAY_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// Idle keepalive connections kept per upstream pool.
    #[arg(long, env = "GATEWAY_UPSTREAM_KEEPALIVE_POOL_SIZE")]
    pub upstream_keepalive_pool_size: Option<usize>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG wins when set).
    #[arg(long, env = "GATEWAY_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Pid file (default: next to the config file, `<config>.pid`).
    #[arg(long, env = "GATEWAY_PID_FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket used to hand listening sockets to a new binary during an upgrade.
    #[arg(long, env = "GATEWAY_UPGRADE_SOCK")]
    pub upgrade_sock: Option<PathBuf>,
    /// Take the listening sockets over from a running gateway (zero-downtime binary upgrade).
    #[arg(short = 'u', long)]
    pub upgrade: bool,
    /// Run in the background.
    #[arg(short = 'd', long)]
    pub daemon: bool,
}

/// Flags of `gateway validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The config file to check.
    #[arg(short = 'c', long = "config", default_value = "gateway.yaml")]
    pub config: PathBuf,
    /// Hidden: also compile a snapshot (as a reload does) and print each phase's duration to stderr.
    #[arg(long, hide = true)]
    pub timings: bool,
    /// For a Kong file: a table of every entity, what loads, what is refused and why (exit 1 if any is).
    #[arg(long)]
    pub report: bool,
}

/// Flags of `gateway reload`.
#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// The config file of the running gateway (its pid file is derived from it).
    #[arg(short = 'c', long = "config", default_value = "gateway.yaml")]
    pub config: PathBuf,
    /// The pid file of the running gateway (overrides the one derived from the config).
    #[arg(long, env = "GATEWAY_PID_FILE")]
    pub pid_file: Option<PathBuf>,
}

/// `gateway validate`: parse, validate and compile (routes, plugin configs) without starting anything.
pub fn validate(args: &ValidateArgs) -> ExitCode {
    if args.report {
        return report(&args.config);
    }
    if args.timings {
        let (result, first, timings) = crate::snapshot::profile_reload(&args.config);
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        eprintln!("timing phase        wall ms    cpu ms");
        for p in &timings.phases {
            eprintln!(
                "timing {:<10} {:>9.3} {:>9.3}",
                p.name,
                ms(p.wall),
                ms(p.cpu)
            );
        }
        let wall = timings.phases.iter().map(|p| p.wall).sum();
        let cpu = timings.phases.iter().map(|p| p.cpu).sum();
        eprintln!("timing {:<10} {:>9.3} {:>9.3}", "total", ms(wall), ms(cpu));
        eprintln!("timing {:<10} {:>9.3}", "first run", ms(first));
        return match result {
            Ok(()) => {
                println!("OK");
                ExitCode::SUCCESS
            }
            Err(errors) => print_errors(&args.config, &errors),
        };
    }
    match gateway_config::load::load_file(&args.config) {
        Ok(config) => match gateway_config::router::Router::compile(&config) {
            Ok(_) => {
                println!("OK");
                ExitCode::SUCCESS
            }
            Err(errors) => print_errors(&args.config, &errors.to_string()),
        },
        Err(errors) => print_errors(&args.config, &errors.to_string()),
    }
}

/// `gateway validate --report`: one line per entity (see `gateway_config::report`).
fn report(path: &Path) -> ExitCode {
    use gateway_config::report::Outcome;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return print_errors(path, &format!("cannot read: {e}")),
    };
    let r = gateway_config::report::report(&text);
    let width = r
        .rows
        .iter()
        .map(|row| row.path.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let lwidth = (r.rows.iter().map(|row| row.label.chars().count()))
        .max()
        .unwrap_or(4)
        .clamp(4, 32);
    println!("{:<width$}  {:<lwidth$}  result", "entity", "name");
    for row in &r.rows {
        let label: String = row.label.chars().take(lwidth).collect();
        let result = match &row.outcome {
            Outcome::Loads => "loads".to_owned(),
            Outcome::NotChecked => "not checked (its parent is refused)".to_owned(),
            Outcome::Refused(why) => format!("refused: {}", why.join("; ")),
        };
        println!("{:<width$}  {label:<lwidth$}  {result}", row.path);
    }
    for line in &r.file {
        println!("{:<width$}  {:<lwidth$}  refused: {line}", "(file)", "-");
    }
    let (loads, refused, unchecked) = r.counts();
    println!(
        "{}: {loads} load, {refused} refused, {unchecked} not checked{}",
        path.display(),
        if r.file.is_empty() {
            ""
        } else {
            ", the file itself refused"
        }
    );
    if r.loads() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_errors(path: &Path, errors: &str) -> ExitCode {
    eprintln!("{}: invalid configuration:", path.display());
    for line in errors.lines() {
        eprintln!("  {line}");
    }
    ExitCode::FAILURE
}

/// The pid file used when none is configured: `<config file>.pid`, beside the config.
pub fn default_pid_file(config: &Path) -> PathBuf {
    let mut name = config.as_os_str().to_owned();
    name.push(".pid");
    PathBuf::from(name)
}

/// `gateway reload`: send SIGHUP to the running gateway.
pub fn reload(args: &ReloadArgs) -> ExitCode {
    let pid_file = args
        .pid_file
        .clone()
        .or_else(|| {
            gateway_config::load::load_file(&args.config)
                .ok()
                .and_then(|c| c.gateway.pid_file)
        })
        .unwrap_or_else(|| default_pid_file(&args.config));
    let pid = match std::fs::read_to_string(&pid_file) {
        Ok(text) => match text.trim().parse::<i32>() {
            Ok(pid) if pid > 0 => pid,
            _ => {
                eprintln!("{}: does not hold a process id", pid_file.display());
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("cannot read pid file {}: {e}", pid_file.display());
            return ExitCode::FAILURE;
        }
    };
    if send_sighup(pid) {
        println!("sent SIGHUP to {pid}");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "cannot signal process {pid}: {}",
            std::io::Error::last_os_error()
        );
        ExitCode::FAILURE
    }
}

#[allow(unsafe_code)]
fn send_sighup(pid: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGHUP) == 0 }
}
