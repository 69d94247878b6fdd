"""``python -m bubble_abm``: the same command line as ``bubble-abm``."""

from bubble_abm.console import main

if __name__ == "__main__":
    raise SystemExit(main())
