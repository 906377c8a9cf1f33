#!/usr/bin/env bash
# The official OpenTelemetry Python SDK, OTLP/HTTP exporters (protobuf and JSON), GenAI OpenAI
# instrumentation and the openai client, pinned, in target/otel-venv: what
# crates/confab-server/tests/otel_clients.rs drives. Idempotent; prints the venv's python last.
set -euo pipefail
exec "$(dirname "$0")/python-venv.sh" otel-venv \
    opentelemetry-sdk 1.45.2 \
    opentelemetry-exporter-otlp-proto-http 1.45.1 \
    opentelemetry-exporter-otlp-json-http 0.66b1 \
    opentelemetry-instrumentation-genai-openai 1.3b0 \
    openai 3.63.0
