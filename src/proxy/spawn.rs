//! Starting an MCP server as a child process that speaks over its stdin and stdout: warden's
//! environment, stderr passed through, killed when its handle is dropped. Used by the HTTP
//! transport's stdio children and by `warden catalog`.

use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Starts `command` (program, then arguments) with piped stdin and stdout.
pub fn piped(command: &[String]) -> Result<(Child, ChildStdin, ChildStdout), String> {
    let (program, args) = command
        .split_first()
        .ok_or("no server command given (put it after `--`)")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("the server's stdio could not be captured".into());
    };
    Ok((child, stdin, stdout))
}
