# Portrait Lab: the web app on a CUDA machine (it also runs on CPU, just slower).
#   docker build -t portrait-lab .                        # weights fetched and verified now
#   docker build --build-arg SKIP_WEIGHTS=1 -t portrait-lab .   # no download at build time
#   docker run --gpus all -p 7860:7860 portrait-lab
# The PyPI torch wheel brings its own CUDA libraries; the base image supplies the CUDA
# runtime environment the NVIDIA container toolkit expects. A host driver for CUDA 12.8+ is needed.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ARG SKIP_WEIGHTS=0
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTRAIT_LAB_HOST=0.0.0.0 \
    PORTRAIT_LAB_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1

# libgl1 and glib: what opencv-python's cv2 links (packages.txt lists the same for a Space);
# curl serves the health check. No compiler: basicsr's sdist builds as pure Python.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv curl ca-certificates libgl1 libglib2.0-0t64 \
 && rm -rf /var/lib/apt/lists/*

# Hugging Face Spaces run containers as uid 1000; so do we, never as root.
RUN (id -u 1000 >/dev/null 2>&1 && userdel --remove "$(id -nu 1000)" || true) \
 && useradd --create-home --uid 1000 portrait
USER portrait
WORKDIR /home/portrait/app

# Dependencies first, in their own layer, so a code change does not reinstall torch. One plain
# install of requirements.txt, exactly what a Gradio-SDK Space runs.
COPY --chown=portrait:portrait requirements.txt ./
RUN python3 -m venv .venv \
 && .venv/bin/pip install -r requirements.txt

COPY --chown=portrait:portrait . .
# Download and verify (size + sha256 from weights/manifest.json) at build time, so the
# running container never downloads anything; the build fails on a bad or missing file.
RUN .venv/bin/python -c 'from pipeline.models.compat_basicsr import import_gfpgan_clean_arch; import_gfpgan_clean_arch(); import cv2, gradio' \
 && if [ "$SKIP_WEIGHTS" != "1" ]; then \
        .venv/bin/python -m pipeline weights fetch gfpgan-v1.4 gfpgan-v1.3 retinaface-r50 parsenet modnet \
     && .venv/bin/python -m pipeline weights list; \
    fi

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:7860/ || exit 1
CMD [".venv/bin/python", "app.py"]
