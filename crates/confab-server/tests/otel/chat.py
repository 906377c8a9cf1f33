"""A three-turn chat by an OpenAI client instrumented with OpenTelemetry's official GenAI
instrumentation, exported by the official OTLP/HTTP exporters to Confab.

Run by tests/otel_clients.rs with: CONFAB_URL (the base URL OTLP exporters append /v1/traces
and /v1/logs to), CONFAB_KEY, FAKE_OPENAI_URL (a chat-completions server), EXPORTER (proto or
json), OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (span_only or event_only), and
SERVICE (the bot)."""

import os

from opentelemetry import _logs, trace
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

if os.environ["EXPORTER"] == "json":
    from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

base = os.environ["CONFAB_URL"]
headers = {"Authorization": "Bearer " + os.environ["CONFAB_KEY"]}
resource = Resource.create({"service.name": os.environ["SERVICE"]})

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=base + "/v1/traces", headers=headers))
)
trace.set_tracer_provider(tracer_provider)
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(
    BatchLogRecordProcessor(OTLPLogExporter(endpoint=base + "/v1/logs", headers=headers))
)
_logs.set_logger_provider(logger_provider)

OpenAIInstrumentor().instrument()

from openai import OpenAI  # noqa: E402  (instrumented once the instrumentor has run)

client = OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="not-a-real-key")
history = [{"role": "system", "content": "You book tables at Luigi's."}]
turns = ["Hi, a table for 4 please", "Friday at 7pm", "My email is ann@example.com"]
# One trace for the chat: its calls share the trace id, which names the conversation.
with trace.get_tracer("chat").start_as_current_span("chat session") as session:
    for said in turns:
        history.append({"role": "user", "content": said})
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=history)
        history.append({"role": "assistant", "content": reply.choices[0].message.content})

tracer_provider.force_flush()
logger_provider.force_flush()
tracer_provider.shutdown()
logger_provider.shutdown()
# The conversation's id: the chat's trace id.
print(trace.format_trace_id(session.get_span_context().trace_id))
