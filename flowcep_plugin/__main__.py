"""python -m flowcep_plugin"""

import sys

from .cli import main

sys.exit(main())
