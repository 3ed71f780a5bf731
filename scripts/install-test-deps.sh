#!/usr/bin/env bash
# Installs the Debian 12 packages the tests and `linesight bench` need, after the
# run-time ones (scripts/install-deps.sh). Idempotent: packages already present are
# skipped, and apt-get runs only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  mosquitto mosquitto-clients             # a real MQTT broker for the tests and the bench
  openssl                                 # TLS certificates in the MQTT tests
  python3-gi gir1.2-gst-rtsp-server-1.0   # GStreamer RTSP server used as a test camera
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
  chromium                                # headless browser for the overlay tests
  faketime                                # wall-clock steps in the reliability tests
  python3-onnx python3-numpy              # regenerating the fixture models
  python3-opencv                          # the OpenCV-DNN peer in linesight bench --peer
  python3-torch python3-pil               # fine-tuning and quantizing the model (the dataset round trip is tested)
)

exec scripts/install-deps.sh "${packages[@]}"
