import sys

from workbench.commands.cli import main

sys.exit(main())
