#!/usr/bin/env python
"""Train the temporal model (not built yet: issue 6)."""
import sys

if __name__ == "__main__":
    print("train: not built yet (issue 6)")
    sys.exit(1)
