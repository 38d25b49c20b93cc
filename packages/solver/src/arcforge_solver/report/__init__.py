"""What a run did, for people: the self-contained HTML run report and the terminal view of one task.

`run_view` gathers a run's files (submission, tasks, journal, events, solutions) into one typed view;
`html_report` and `terminal` draw it; `diagnose` says where a program goes wrong on the train pairs;
`highlight` colours program text for both.
"""
