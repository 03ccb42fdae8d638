"""The `serve` extra: FastAPI and uvicorn, imported only when a server is built or run."""

import importlib
from types import ModuleType

#: How to install what the server needs.
INSTALL_HINT = 'pip install "keras-cxr[serve]"'


def require(module: str) -> ModuleType:
    """Imports `module` (fastapi, uvicorn, python_multipart), or says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"keras_cxr.serve needs {module}, which is not installed. Install the server's "
            f"dependencies with `{INSTALL_HINT}`."
        ) from error
