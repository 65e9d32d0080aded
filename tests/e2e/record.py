"""Records what crosses a stdio MCP connection: `record.py LOG -- COMMAND ARGS...`.

Starts COMMAND (stderr inherited), copies this process's stdin to COMMAND's stdin and
COMMAND's stdout to this process's stdout, line by line, appending each line to LOG as it
passes (`>> ` what COMMAND received, `<< ` what it sent), flushed at once. Closes COMMAND's
stdin on EOF, forwards SIGTERM/SIGINT, and exits with COMMAND's exit status.

The end-to-end tests put it between warden and a real server (to prove what reached the
server and what did not) or between the client and warden (to see warden's answers as bytes,
before the SDK parses them).
"""

import signal
import subprocess
import sys
import threading


def main() -> int:
    log_path, sep, *command = sys.argv[1:]
    if sep != "--" or not command:
        print("usage: record.py LOG -- COMMAND ARGS...", file=sys.stderr)
        return 2
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _f: child.send_signal(s))
    log = open(log_path, "ab", buffering=0)
    lock = threading.Lock()

    def record(prefix: bytes, line: bytes) -> None:
        with lock:
            log.write(prefix + line.rstrip(b"\n") + b"\n")

    def answers() -> None:
        out = sys.stdout.buffer
        for line in iter(child.stdout.readline, b""):
            record(b"<< ", line)
            try:
                out.write(line)
                out.flush()
            except BrokenPipeError:
                break

    relay = threading.Thread(target=answers, daemon=True)
    relay.start()
    for line in iter(sys.stdin.buffer.readline, b""):
        record(b">> ", line)
        try:
            child.stdin.write(line)
            child.stdin.flush()
        except BrokenPipeError:
            break
    try:
        child.stdin.close()
    except BrokenPipeError:
        pass
    code = child.wait()
    relay.join(timeout=5)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
