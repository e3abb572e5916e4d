"""Records one exception on a span (span.record_exception) and logs the
same kind of exception with logger.exception, both through the
OpenTelemetry Python SDK's OTLP/HTTP exporters to the URL given.

Usage: record_exceptions.py BASE_URL   (e.g. http://127.0.0.1:4318)
"""

import logging
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

base = sys.argv[1].rstrip("/")
resource = Resource.create(
    {"service.name": "py-orders", "service.version": "3.1.0", "deployment.environment.name": "test"}
)

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
tracer = tracer_provider.get_tracer("orders")

logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs")))
logger = logging.getLogger("orders")
logger.propagate = False
logger.setLevel(logging.INFO)
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))


class OrderNotFound(Exception):
    pass


def find_order(order_id):
    raise OrderNotFound(f"order {order_id} not found")


with tracer.start_as_current_span("GET /orders/{id}") as span:
    try:
        find_order(123)
    except OrderNotFound as error:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR))

try:
    find_order(456)
except OrderNotFound:
    logger.exception("looking up the order failed")

tracer_provider.shutdown()
logger_provider.shutdown()
print("exported")
