#!/usr/bin/env python
"""Evaluate on 3DPW / MPI-INF-3DHP (not built yet: issue 6)."""
import sys

if __name__ == "__main__":
    print("eval: not built yet (issue 6)")
    sys.exit(1)
