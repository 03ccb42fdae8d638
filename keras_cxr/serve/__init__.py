"""Serving over HTTP: a model behind `POST /v1/explain` and its viewer; the run viewer.

The model server micro-batches concurrent requests and has a web viewer; the run viewer
(`create_run_app`, `keras-cxr view`) is a page over an explained archive.

FastAPI and uvicorn are an optional extra (`pip install "keras-cxr[serve]"`), imported
only when a server is built: this package imports without them.

Example:
    >>> app = keras_cxr.serve.create_app("runs/demo/model.keras")
    >>> keras_cxr.serve.serve("runs/demo/model.keras", port=8000)  # what `keras-cxr serve` runs
"""

from keras_cxr.serve._extra import INSTALL_HINT
from keras_cxr.serve.admission_control import AdmissionControl, OverloadedError
from keras_cxr.serve.app import create_app
from keras_cxr.serve.completion_rate import CompletionRate
from keras_cxr.serve.micro_batcher import MicroBatcher
from keras_cxr.serve.model_service import ExplainRequest, ModelService
from keras_cxr.serve.request_limits import RequestLimits, allowed_hosts_for
from keras_cxr.serve.run_app import create_run_app
from keras_cxr.serve.run_table import RunTable
from keras_cxr.serve.server import BackgroundServer, is_loopback, serve, serve_run
from keras_cxr.serve.service_time import ServiceTime
from keras_cxr.serve.triage_flags import TriageFlags
from keras_cxr.serve.uploads import UploadError, read_upload

__all__ = [
    "INSTALL_HINT",
    "AdmissionControl",
    "BackgroundServer",
    "CompletionRate",
    "ExplainRequest",
    "MicroBatcher",
    "ModelService",
    "OverloadedError",
    "RequestLimits",
    "RunTable",
    "ServiceTime",
    "TriageFlags",
    "UploadError",
    "allowed_hosts_for",
    "create_app",
    "create_run_app",
    "is_loopback",
    "read_upload",
    "serve",
    "serve_run",
]
