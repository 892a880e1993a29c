"""Input/output: atomic result files, video writing, exporters."""
