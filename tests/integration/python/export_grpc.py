"""Exports through the OpenTelemetry Python SDK's OTLP/gRPC exporters,
unmodified, to the endpoint given, gzip-compressed and with an ingest key
in the metadata, and fails unless every export succeeded.

Usage: export_grpc.py ENDPOINT KEY SIGNALS
  ENDPOINT  e.g. http://127.0.0.1:4317
  KEY       sent as `authorization: Bearer KEY` ("-" for none)
  SIGNALS   comma-separated: traces, logs, metrics
"""

import logging
import sys

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

endpoint, key, signals = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
options = {"endpoint": endpoint, "insecure": True, "compression": Compression.Gzip}
if key != "-":
    options["headers"] = {"authorization": f"Bearer {key}"}
resource = Resource.create({"service.name": "py-grpc", "service.version": "1.2.0"})
results = []


def recording(exporter_class):
    """The exporter class, its results kept (the SDK's processors only log
    a failed export)."""

    class Recording(exporter_class):
        def export(self, batch, *args, **kwargs):
            result = super().export(batch, *args, **kwargs)
            results.append((exporter_class.__name__, result.name))
            return result

    return Recording


if "traces" in signals:
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(recording(OTLPSpanExporter)(**options)))
    tracer = tracer_provider.get_tracer("checkout")
    with tracer.start_as_current_span("POST /checkout") as span:
        span.set_attribute("order.id", "o-77")
        with tracer.start_as_current_span("charge card"):
            pass
    tracer_provider.shutdown()

if "logs" in signals:
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(recording(OTLPLogExporter)(**options)))
    logger = logging.getLogger("checkout")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))
    logger.warning("card declined over grpc")
    logger_provider.shutdown()

if "metrics" in signals:
    reader = PeriodicExportingMetricReader(recording(OTLPMetricExporter)(**options), export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("checkout")
    meter.create_counter("grpc_orders", unit="1").add(3, {"mode": "card"})
    meter.create_histogram("grpc_checkout_duration", unit="s").record(0.25)
    meter_provider.shutdown()

failed = [result for result in results if result[1] != "SUCCESS"]
if not results or failed:
    print(f"exports: {results}", file=sys.stderr)
    sys.exit(1)
print(f"exported: {results}")
