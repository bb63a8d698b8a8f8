"""A batch job over a project's shots: manifest, tasks, the local and Ray drivers."""
