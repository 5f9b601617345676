"""``python -m pumplib``: the ``pumplib`` command."""

from pumplib.cli import main

if __name__ == "__main__":
    main()
