# syntax=docker/dockerfile:1
# stemtf container images. Three targets (see deploy/README.md):
#   docker build --target cpu     -t stemtf:cpu .          # stemtf CLI on CPU
#   docker build --target gpu     -t stemtf:gpu .          # stemtf CLI on the TensorFlow GPU image
#   docker build --target serving -t stemtf-serving .      # TF Serving with saved_models/rdunet
# The serving target needs the exported model first: stemtf export ... -> saved_models/rdunet/<version>/
ARG PYTHON_VERSION=3.11
ARG TF_VERSION=2.21.0
ARG TF_SERVING_VERSION=2.21.0

# ---- cpu: stemtf installed as the README does, on the official Python image ------------------
# Runtime images: the package and its serving extra (gRPC client, warm-up export), no dev tools.
FROM python:${PYTHON_VERSION}-slim AS cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /opt/stemtf
COPY . .
RUN pip install -e ".[serving]"
WORKDIR /work
ENTRYPOINT ["stemtf"]
CMD ["--help"]

# ---- gpu: the same install on the official TensorFlow GPU image (its TensorFlow is kept) -----
FROM tensorflow/tensorflow:${TF_VERSION}-gpu AS gpu
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 TF_CPP_MIN_LOG_LEVEL=2 PIP_BREAK_SYSTEM_PACKAGES=1
WORKDIR /opt/stemtf
COPY . .
RUN pip install -e ".[serving]"
WORKDIR /work
ENTRYPOINT ["stemtf"]
CMD ["--help"]

# ---- serving: the official TF Serving image with the exported RDUNet ------------------------
# Its entrypoint runs tensorflow_model_server --port=8500 --rest_api_port=8501
# --model_name=${MODEL_NAME} --model_base_path=${MODEL_BASE_PATH}/${MODEL_NAME}; warm-up
# requests in <version>/assets.extra/ are replayed at load.
FROM tensorflow/serving:${TF_SERVING_VERSION} AS serving
ENV MODEL_NAME=rdunet MODEL_BASE_PATH=/models
COPY saved_models/rdunet /models/rdunet
COPY deploy/models.config /models/models.config
EXPOSE 8500 8501
