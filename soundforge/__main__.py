"""``python -m soundforge`` runs the command line (see :mod:`soundforge.cli`)."""

from soundforge.cli import main

raise SystemExit(main())
