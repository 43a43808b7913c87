//! Entry points from text to a checked [`Config`]: YAML parsing (errors with line and column), building the
//! model, validation; and the way back to YAML.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::build;
use crate::error::{Collector, ConfigError, ConfigErrors, Location};
use crate::model::Config;
use crate::raw::RawConfig;
use crate::validate;

pub mod chunked;
pub mod deck_env;
pub use chunked::{ParseCache, Reuse};

/// Parses and validates a YAML (or JSON) declarative configuration; `Err` lists every problem found.
pub fn parse_str(text: &str) -> Result<Config, ConfigErrors> {
    parse_str_timed(text, &mut Timings::default())
}

/// Durations of named phases, in order (`gateway validate --timings`, see `docs/operations.md`): wall-clock
/// time and, when a CPU clock is given, the CPU time of the calling thread (unaffected by other processes
/// competing for the cores).
#[derive(Debug, Clone)]
pub struct Timings {
    /// The phases in the order they ran.
    pub phases: Vec<Phase>,
    cpu_clock: Option<fn() -> Duration>,
    last: (Instant, Duration),
}

/// One timed phase.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    /// Phase name.
    pub name: &'static str,
    /// Wall-clock time.
    pub wall: Duration,
    /// CPU time of the thread (zero without a CPU clock).
    pub cpu: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self::with_cpu_clock(None)
    }
}

impl Timings {
    /// Starts timing now; `cpu_clock` reads the calling thread's CPU time.
    pub fn with_cpu_clock(cpu_clock: Option<fn() -> Duration>) -> Self {
        Timings {
            phases: Vec::new(),
            cpu_clock,
            last: (Instant::now(), cpu_clock.map_or(Duration::ZERO, |f| f())),
        }
    }

    /// Records the time since the previous mark (or since creation) as `name`.
    pub fn mark(&mut self, name: &'static str) {
        let now = (
            Instant::now(),
            self.cpu_clock.map_or(Duration::ZERO, |f| f()),
        );
        self.phases.push(Phase {
            name,
            wall: now.0 - self.last.0,
            cpu: now.1.saturating_sub(self.last.1),
        });
        self.last = now;
    }
}

/// [`parse_str`], recording the phases `parse yaml`, `build` and `validate` in `timings`.
pub fn parse_str_timed(text: &str, timings: &mut Timings) -> Result<Config, ConfigErrors> {
    parse_str_cached(text, &ParseCache::default(), timings).map(|(config, _)| config)
}

/// [`parse_str_timed`] reusing the items of the previous parse with `cache` (see [`chunked`]): what the
/// gateway's reload path calls. Also says how many items were reused and parsed.
pub fn parse_str_cached(
    text: &str,
    cache: &ParseCache,
    timings: &mut Timings,
) -> Result<(Config, Reuse), ConfigErrors> {
    if text.trim().is_empty() {
        return Err(ConfigErrors::single(ConfigError::at(
            "",
            "the configuration is empty (`_format_version` is required)",
        )));
    }
    let rendered = deck_env::render(text, &deck_env::process_env).map_err(ConfigErrors::single)?;
    let templated = matches!(rendered, std::borrow::Cow::Owned(_));
    let text = &*rendered;
    let (raw, reuse) = match chunked::parse(text, cache) {
        Some(parsed) => parsed,
        None => {
            let raw: RawConfig =
                serde_yaml::from_str(text).map_err(|e| ConfigErrors::single(yaml_error(&e)))?;
            (raw, Reuse::default())
        }
    };
    timings.mark("parse yaml");
    from_raw(raw, timings).map(|mut config| {
        config.deck_env_templates = templated;
        (config, reuse)
    })
}

/// The file's raw types to a checked `Config` (build, validate, typed plugin configs attached), recording the
/// phases `build` and `validate`. Also the Admin API's path, so a write is read exactly as a file is.
pub(crate) fn from_raw(raw: RawConfig, timings: &mut Timings) -> Result<Config, ConfigErrors> {
    let mut errors = Collector::default();
    let mut config = build::build(raw, &mut errors);
    timings.mark("build");
    let typed = validate::check(&config, &mut errors);
    errors.finish()?;
    validate::attach_typed(&mut config, typed);
    timings.mark("validate");
    Ok(config)
}

/// Reads `path` and parses it with [`parse_str`].
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::single(ConfigError::at(
            "",
            format!("cannot read {}: {e}", path.display()),
        ))
    })?;
    parse_str(&text)
}

/// Serializes a configuration to YAML in a stable key order; [`parse_str`] reads it back to an equal value.
pub fn to_yaml(config: &Config) -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(config)
}

/// Converts a serde_yaml error: position into [`Location`], serde_yaml's own field path into `path`.
fn yaml_error(error: &serde_yaml::Error) -> ConfigError {
    let mut message = error.to_string();
    let location = error.location().map(|l| Location {
        line: l.line(),
        column: l.column(),
    });
    if let Some(loc) = location {
        let suffix = format!(" at line {} column {}", loc.line, loc.column);
        if let Some(pos) = message.find(&suffix) {
            message.replace_range(pos..pos + suffix.len(), "");
        }
    }
    // serde_yaml writes `<path>: <message>`; a path has no spaces, a message prefix such as `invalid type` has.
    let mut path = String::new();
    if let Some((head, tail)) = message.split_once(": ") {
        if !head.is_empty() && !head.contains(char::is_whitespace) {
            path = head.to_string();
            message = tail.to_string();
        }
    }
    for (rust, words) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
    ] {
        if let Some(pos) = message.find(rust) {
            message.replace_range(pos..pos + rust.len(), words);
        }
    }
    ConfigError {
        path,
        message,
        location,
    }
}

#[cfg(test)]
mod tests;
