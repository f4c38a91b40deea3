"""``python -m neuromorpho_api``: the ``neuromorpho`` command line."""

from neuromorpho_api._cli import main

raise SystemExit(main())
