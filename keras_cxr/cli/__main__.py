"""`python -m keras_cxr.cli`: the `keras-cxr` command."""

import sys

from keras_cxr.cli import main

sys.exit(main())
