"""DWCP training pipeline: the step logic behind the CLI, kfp.local and Kubeflow.

Pure Python on purpose: nothing in this package imports KFP, and TensorFlow is only imported
inside the training code paths, so `dwcp validate` or `dwcp window` start in well under a second.
"""

__version__ = "0.1.0"
