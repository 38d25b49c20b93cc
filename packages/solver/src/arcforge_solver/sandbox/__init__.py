"""The sandbox: runs untrusted `def solve(grid)` source in confined worker processes.

- `pool`: `SandboxPool`, the parent side (spawn, dispatch, time out, restart);
- `worker`: one worker process (`python -m arcforge_solver.sandbox.worker`).
"""
