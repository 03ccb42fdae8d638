"""Training callbacks: explanations logged while a model trains."""

from keras_cxr.callbacks.gradcam_callback import GradCAMCallback

__all__ = ["GradCAMCallback"]
