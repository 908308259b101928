# syntax=docker/dockerfile:1
# The project's GPU image for the neural trainers: TensorFlow's GPU image (CUDA and cuDNN
# included) plus the pinned runtime dependencies, minus tensorflow-cpu, run as a non-root user.
# Build from the repository root:  docker build -f images/gpu.Dockerfile -t dwcp-training-gpu:0.1.0 .
ARG TF_GPU_IMAGE=tensorflow/tensorflow:2.21.0-gpu

FROM ${TF_GPU_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The project supports Python 3.11 only: fail the build clearly on any other base.
RUN python3 -c "import sys; v = sys.version_info[:2]; assert v == (3, 11), f'need Python 3.11, base has {v}'"
# Dependencies first (the base already has TensorFlow with GPU support): rebuilt only when the
# lock file changes.
COPY images/requirements.txt /tmp/requirements.txt
RUN grep -vE '^tensorflow(-cpu)?==' /tmp/requirements.txt > /tmp/requirements-gpu.txt \
    && python3 -m pip install --no-cache-dir -r /tmp/requirements-gpu.txt \
    && rm /tmp/requirements.txt /tmp/requirements-gpu.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY dwcp_training/ dwcp_training/
RUN python3 -m pip install --no-cache-dir --no-deps . \
    && rm -rf /src \
    && python3 -c "import dwcp_training.schema as s; s.load_schema()"
RUN useradd --create-home --no-log-init --uid 10001 --user-group dwcp
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2
USER 10001:10001
WORKDIR /home/dwcp
CMD ["dwcp", "--help"]
