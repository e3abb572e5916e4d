"""Exports metrics with the OpenTelemetry Python SDK's OTLP/HTTP exporter
to the endpoint given as the first argument; exits non-zero unless every
export succeeded."""

import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExportResult,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

RESULTS = []


class CheckedExporter(OTLPMetricExporter):
    """Remembers what each export returned."""

    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        RESULTS.append(result)
        return result


exporter = CheckedExporter(endpoint=sys.argv[1])
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
provider = MeterProvider(
    resource=Resource.create({"service.name": "py-shop", "service.instance.id": "py-1"}),
    metric_readers=[reader],
    views=[
        View(
            instrument_name="payment.duration",
            aggregation=ExponentialBucketHistogramAggregation(),
        )
    ],
)
meter = provider.get_meter("lookout-test")
orders = meter.create_counter("orders", unit="{orders}", description="Orders placed")
orders.add(3, {"region": "eu"})
orders.add(2, {"region": "us"})
duration = meter.create_histogram("checkout.duration", unit="s")
for value in (0.2, 0.7, 1.5):
    duration.record(value, {"route": "/checkout"})
payment = meter.create_histogram("payment.duration", unit="s")
for value in (0.2, 0.7, 1.5):
    payment.record(value)
carts = meter.create_up_down_counter("carts.open")
carts.add(5)
carts.add(-2)
meter.create_observable_gauge(
    "queue.depth", callbacks=[lambda options: [Observation(7, {"queue": "emails"})]]
)
provider.force_flush()
provider.shutdown()

if not RESULTS or any(result != MetricExportResult.SUCCESS for result in RESULTS):
    print(f"exports: {RESULTS}", file=sys.stderr)
    sys.exit(1)
print(f"{len(RESULTS)} export(s) succeeded")
