"""python -m tests.bench --profile ci --seed 1  (see README.md in this folder)."""
from .run import main

raise SystemExit(main())
