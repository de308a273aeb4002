"""Allow ``python -m pycarp``."""

from pycarp.cli.main import main

raise SystemExit(main())
