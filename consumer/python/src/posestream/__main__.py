"""``python -m posestream``: the same as the ``posestream`` command."""

import sys

from .cli import main

sys.exit(main())
