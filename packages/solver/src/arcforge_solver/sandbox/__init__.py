"""The sandbox: runs untrusted `def solve(grid)` source, each program in a fresh, confined process.

- `pool`: `SandboxPool`, the parent side (spawn zygotes, dispatch, time out, replace);
- `zygote`: one worker process per pool slot, pre-imported and confined, forking one process per
  program; `worker`: what that process does with the program, and the frames spoken;
- the layers: `seccomp` (system-call filters), `landlock` (file-system rules), `policy` (the audit
  hook), `layers` (which are active, and the log line), `scratch` (owner-locked scratch folders).
"""
