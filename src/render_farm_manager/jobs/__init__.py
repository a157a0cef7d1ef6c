"""Shots and the files that describe them: frame ranges, the expansion of a shot into tasks,
and one module per job-file format (Open Job Description, OpenCue, Deadline)."""
