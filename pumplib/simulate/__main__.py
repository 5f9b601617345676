"""``python -m pumplib.simulate``."""

from .cli import main

raise SystemExit(main())
