//! Progress display: live bars on a terminal, plain lines otherwise, JSON lines with
//! `--json`. Only this module and `main` write to the terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use imgbuild_evaluator::{DrvId, Graph};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use imgbuild_engine::{Event, EventSink};

/// How to show progress.
pub enum Display {
    /// Live bars on a terminal.
    Bars(Bars),
    /// One line per finished derivation on stderr.
    Plain,
    /// One JSON object per line on stdout.
    Json(Mutex<std::io::Stdout>),
}

/// The live terminal display.
pub struct Bars {
    bar: ProgressBar,
    running: Mutex<BTreeMap<DrvId, String>>,
}

impl Display {
    /// Chooses the display for this invocation.
    pub fn new(json: bool) -> Self {
        if json {
            Display::Json(Mutex::new(std::io::stdout()))
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            Display::Bars(Bars {
                bar,
                running: Mutex::new(BTreeMap::new()),
            })
        } else {
            Display::Plain
        }
    }

    /// Prints a line without disturbing the bars.
    pub fn line(&self, text: &str) {
        match self {
            Display::Bars(bars) => bars.bar.suspend(|| stderr_line(&escape_lines(text))),
            Display::Plain => stderr_line(&escape_lines(text)),
            Display::Json(stdout) => {
                json_line(stdout, &json!({ "event": "message", "text": text }))
            }
        }
    }

    /// Emits a JSON value (only in JSON mode).
    pub fn json(&self, value: &serde_json::Value) {
        if let Display::Json(stdout) = self {
            json_line(stdout, value);
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        if let Display::Bars(bars) = self {
            bars.bar.finish_and_clear();
        }
    }
}

/// Each line of `text` escaped (the line breaks the caller wrote are kept).
fn escape_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| escape(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line on stderr in one write (stderr is unbuffered; `eprintln!` writes the text
/// and the newline separately).
fn stderr_line(text: &str) {
    use std::io::Write as _;
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn json_line(stdout: &Mutex<std::io::Stdout>, value: &serde_json::Value) {
    if let Ok(mut stdout) = stdout.lock() {
        let _ = writeln!(stdout, "{value}");
    }
}

fn label(graph: &Graph, id: DrvId) -> String {
    let node = graph.node(id);
    format!(
        "{} ({})",
        escape(&node.derivation.name),
        escape(&node.derivation.kind)
    )
}

/// `text` with control characters (newlines, escape sequences) shown as `\n`, `\u{1b}`:
/// a name or message can then neither fake another line nor drive the terminal.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if character.is_control() {
            escaped.extend(character.escape_default());
        } else {
            escaped.push(character);
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Where the recipe made a derivation: `  --> recipe.rhai:4:12 (imported from ...)`.
fn origin_line(origin: &imgbuild_engine::Origin) -> String {
    let mut text = format!(
        "  --> {}:{}:{}",
        escape(&imgbuild_evaluator::display_path(&origin.file)),
        origin.line,
        origin.column
    );
    let outer: Vec<String> = origin
        .chain()
        .skip(1)
        .map(|import| {
            format!(
                "{}:{}:{}",
                escape(&imgbuild_evaluator::display_path(&import.file)),
                import.line,
                import.column
            )
        })
        .collect();
    if !outer.is_empty() {
        text.push_str(&format!(" (imported from {})", outer.join(", from ")));
    }
    text
}

impl EventSink for Display {
    fn event(&self, graph: &Graph, event: &Event) {
        match self {
            Display::Json(stdout) => json_line(stdout, &event_json(graph, event)),
            Display::Plain => {
                if let Some(text) = plain_text(graph, event) {
                    stderr_line(&text);
                }
            }
            Display::Bars(bars) => {
                match event {
                    Event::Planned { to_build, .. } => bars.bar.set_length(*to_build as u64),
                    Event::Started { id } => {
                        if let Ok(mut running) = bars.running.lock() {
                            running
                                .insert(*id, escape(&graph.node(*id).derivation.name).into_owned());
                        }
                    }
                    Event::Progress {
                        id,
                        done,
                        total,
                        unit,
                    } => {
                        if let Ok(mut running) = bars.running.lock() {
                            let name = escape(&graph.node(*id).derivation.name);
                            running.insert(*id, format!("{name} {}", amount(*done, *total, unit)));
                        }
                    }
                    Event::Finished { id, .. }
                    | Event::Failed { id, .. }
                    | Event::Skipped { id } => {
                        if let Ok(mut running) = bars.running.lock() {
                            running.remove(id);
                        }
                        bars.bar.inc(1);
                        if matches!(event, Event::Failed { .. }) {
                            if let Some(text) = plain_text(graph, event) {
                                bars.bar.suspend(|| stderr_line(&text));
                            }
                        }
                    }
                }
                if let Ok(running) = bars.running.lock() {
                    let names: Vec<&str> = running.values().map(String::as_str).collect();
                    bars.bar.set_message(if names.is_empty() {
                        String::new()
                    } else {
                        format!("building {}", names.join(", "))
                    });
                }
            }
        }
    }
}

fn plain_text(graph: &Graph, event: &Event) -> Option<String> {
    match event {
        Event::Planned { to_build, cached } => Some(format!(
            "{to_build} to build, {cached} already in the store"
        )),
        Event::Started { .. } => None,
        Event::Finished {
            id,
            cached,
            duration,
        } => Some(if *cached {
            format!("cached  {}", label(graph, *id))
        } else {
            format!(
                "built   {} in {}",
                label(graph, *id),
                human_duration(*duration)
            )
        }),
        Event::Failed {
            id,
            error,
            log_tail,
            ..
        } => {
            let mut text = format!("error: {} failed", label(graph, *id));
            if let Some(origin) = &graph.node(*id).derivation.origin {
                text.push('\n');
                text.push_str(&origin_line(origin));
            }
            text.push_str(&format!("\n  caused by: {}", escape(error)));
            if !log_tail.is_empty() {
                text.push_str(&format!(
                    "\n  last lines of the log (imgbuild log {}):",
                    graph.node(*id).identity.short()
                ));
                for line in log_tail {
                    text.push_str(&format!("\n    {}", escape(line)));
                }
            }
            Some(text)
        }
        Event::Skipped { id } => Some(format!("skipped {}: an input failed", label(graph, *id))),
        Event::Progress { .. } => None,
    }
}

fn event_json(graph: &Graph, event: &Event) -> serde_json::Value {
    let (kind, id, mut fields) = match event {
        Event::Planned { to_build, cached } => {
            return json!({ "event": "planned", "to_build": to_build, "cached": cached })
        }
        Event::Started { id } => ("started", id, json!({})),
        Event::Finished {
            id,
            cached,
            duration,
        } => (
            "finished",
            id,
            json!({ "cached": cached, "milliseconds": duration.as_millis() as u64 }),
        ),
        Event::Failed {
            id,
            error,
            log_tail,
            environment,
        } => (
            "failed",
            id,
            json!({ "error": error, "log_tail": log_tail, "environment": environment }),
        ),
        Event::Skipped { id } => ("skipped", id, json!({})),
        Event::Progress {
            id,
            done,
            total,
            unit,
        } => (
            "progress",
            id,
            json!({ "done": done, "total": total, "unit": unit }),
        ),
    };
    // Every derivation event names the derivation the same way.
    let node = graph.node(*id);
    if let Some(object) = fields.as_object_mut() {
        object.insert("event".to_owned(), json!(kind));
        object.insert("derivation".to_owned(), json!(node.identity.to_hex()));
        object.insert("name".to_owned(), json!(node.derivation.name));
        object.insert("kind".to_owned(), json!(node.derivation.kind));
        if let (Event::Failed { .. }, Some(origin)) = (event, &node.derivation.origin) {
            let chain: Vec<serde_json::Value> = origin
                .chain()
                .map(|place| json!({ "file": &*place.file, "line": place.line, "column": place.column }))
                .collect();
            object.insert("origin".to_owned(), json!(chain));
        }
    }
    fields
}

/// `12ms`, `1.4s`, `2m03s`.
pub fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else {
        format!("{}m{:02}s", millis / 60_000, (millis / 1000) % 60)
    }
}

fn amount(done: u64, total: Option<u64>, unit: &str) -> String {
    let show = |value: u64| {
        if unit == "bytes" {
            crate::commands::store::human_bytes(value)
        } else {
            format!("{value} {unit}")
        }
    };
    match total {
        Some(total) => format!("{} / {}", show(done), show(total)),
        None => show(done),
    }
}
