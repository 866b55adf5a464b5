//! Error classes and exit codes; one rendering for every error.

use std::process::ExitCode;

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// One or more derivations failed to build (already reported).
    Build,
    /// The recipe or the command line is wrong.
    Recipe(miette::Report),
    /// The machine is in the way: disk, permissions, a missing tool, the network.
    Environment(miette::Report),
    /// A store check found problems (already reported).
    Verify,
    /// imgbuild itself is wrong (a bug): exit 101, like a panic.
    Internal(miette::Report),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Build | Failure::Verify => ExitCode::from(1),
            Failure::Recipe(_) => ExitCode::from(2),
            Failure::Environment(_) => ExitCode::from(3),
            Failure::Internal(_) => ExitCode::from(101),
        }
    }

    /// An internal bug with a message.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Failure::Internal(miette::miette!("internal bug in imgbuild: {error}"))
    }

    /// The failure's message, on one line.
    pub fn message(&self) -> String {
        match self {
            Failure::Build => "a derivation failed".to_owned(),
            Failure::Verify => "the store check found problems".to_owned(),
            Failure::Recipe(report) | Failure::Environment(report) | Failure::Internal(report) => {
                report.to_string()
            }
        }
    }

    /// Wraps an environment error with a message.
    pub fn environment(error: impl std::fmt::Display) -> Self {
        Failure::Environment(miette::miette!("{error}"))
    }
}

impl From<imgbuild_store::StoreError> for Failure {
    fn from(error: imgbuild_store::StoreError) -> Self {
        Failure::Environment(report(error))
    }
}

/// Turns any error (with its `source()` chain) into a report.
pub fn report(error: impl std::error::Error + Send + Sync + 'static) -> miette::Report {
    use miette::IntoDiagnostic;
    match Err::<(), _>(error).into_diagnostic() {
        Err(report) => report,
        Ok(()) => miette::miette!("unknown error"),
    }
}

/// Renders a report to stderr in the house style (`error:` / `caused by:` / `help:`).
pub fn render(report: &miette::Report) {
    eprintln!("{report:?}");
}

/// Sets up miette's rendering: `error:` headers, colours and Unicode only on a terminal
/// (and never with `NO_COLOR`), line wrapping only on a terminal.
pub fn install_report_handler() {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = miette::set_hook(Box::new(move |_| {
        let mut theme = if terminal {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        theme.characters.error = "error:".into();
        // On a terminal, messages wrap at 100 columns; in a log (CI, a pipe to grep)
        // every message stays on one line.
        let handler =
            miette::GraphicalReportHandler::new_themed(theme).with_show_related_as_nested(true);
        Box::new(if terminal {
            handler.with_width(100)
        } else {
            handler.with_wrap_lines(false)
        })
    }));
}
