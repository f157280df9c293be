import sys

from graphclr.cli import main

sys.exit(main())
