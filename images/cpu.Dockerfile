# syntax=docker/dockerfile:1
# The project's CPU image: the library, KFP's executor and the pinned runtime dependencies in a
# virtual environment, run as a non-root user. Every pipeline step runs on it (kind, CPU nodes).
# Build from the repository root:  docker build -f images/cpu.Dockerfile -t dwcp-training:0.1.0 .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY images/requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY dwcp_training/ dwcp_training/
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/python -c "import dwcp_training.schema as s; s.load_schema()"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="dwcp-training" \
      org.opencontainers.image.description="DWCP model training pipeline steps (CPU)"
RUN useradd --create-home --no-log-init --uid 10001 --user-group dwcp
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2
USER 10001:10001
WORKDIR /home/dwcp
CMD ["dwcp", "--help"]
