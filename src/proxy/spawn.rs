//! Starting an MCP server as a child process that speaks over its stdin and stdout: warden's
//! environment, stderr passed through, killed when its handle is dropped. Used by the stdio
//! proxy, the HTTP transport's stdio children and `warden catalog`.

use std::fmt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Why a server could not be started.
#[derive(Debug)]
pub enum SpawnError {
    NoCommand,
    /// The program could not be run (not found, not executable…).
    Start {
        program: String,
        error: String,
    },
    Stdio,
}

impl SpawnError {
    /// The stdio proxy's exit code for it: 2 usage, 127 as a shell's "cannot run", 1 else.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::NoCommand => 2,
            SpawnError::Start { .. } => 127,
            SpawnError::Stdio => 1,
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NoCommand => f.write_str("no server command given (put it after `--`)"),
            SpawnError::Start { program, error } => write!(f, "cannot start `{program}`: {error}"),
            SpawnError::Stdio => f.write_str("the server's stdio could not be captured"),
        }
    }
}

impl From<SpawnError> for String {
    fn from(e: SpawnError) -> String {
        e.to_string()
    }
}

/// Starts `command` (program, then arguments) with piped stdin and stdout.
pub fn piped(command: &[String]) -> Result<(Child, ChildStdin, ChildStdout), SpawnError> {
    let (program, args) = command.split_first().ok_or(SpawnError::NoCommand)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SpawnError::Start {
            program: program.clone(),
            error: e.to_string(),
        })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(SpawnError::Stdio);
    };
    Ok((child, stdin, stdout))
}
