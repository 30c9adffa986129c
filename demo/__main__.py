"""`python -m demo`: see demo/story.py."""

import sys

from demo.story import main

sys.exit(main())
