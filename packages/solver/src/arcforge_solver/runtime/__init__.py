"""The solver runtime: reads tasks, gives each its seconds, runs an engine on it and writes the submission.

Modules, one job each:
- `run`: one solver run from tasks to submission, journal and events (`run(config)`);
- `executors`: run an engine on tasks in this process or in worker processes;
- `scheduler`: the per-task time allotment and the run's forecast;
- `journal`: the resumable record of finished tasks;
- `progress`: the one-line progress display;
- `submission`: choose attempts, write and validate `submission.json`;
- `scoring`: score a submission against solutions.
"""
