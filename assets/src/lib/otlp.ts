// A trace in the API shape (docs/API.md) converted back to OTLP/JSON
// (`ExportTraceServiceRequest`): spans grouped by resource and scope, hex
// ids, times as strings of unix nanoseconds, enums as integers, attribute
// values as `AnyValue`s. What the API does not keep (trace state, flags,
// dropped counts) is left out.
import type { Attributes, Span, Trace } from './api';

const KINDS: Record<string, number> = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const STATUS: Record<string, number> = { unset: 0, ok: 1, error: 2 };

/** Unix nanoseconds of an RFC 3339 time, exactly, as a decimal string. */
export function nanosOf(iso: string): string {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(iso);
  if (!match) return (BigInt(Date.parse(iso)) * 1_000_000n).toString();
  const seconds = BigInt(Date.parse(match[1] + match[3]) / 1000);
  const fraction = BigInt((match[2] ?? '').padEnd(9, '0').slice(0, 9));
  return (seconds * 1_000_000_000n + fraction).toString();
}

type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } };
interface KeyValue {
  key: string;
  value: AnyValue;
}

export function anyValue(value: unknown): AnyValue {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  if (value && typeof value === 'object') return { kvlistValue: { values: keyValues(value as Attributes) } };
  return { stringValue: value === null || value === undefined ? '' : String(value) };
}

function keyValues(attributes: Attributes): KeyValue[] {
  return Object.entries(attributes ?? {}).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function otlpSpan(traceId: string, span: Span) {
  return {
    traceId,
    spanId: span.span_id,
    parentSpanId: span.parent_span_id ?? '',
    name: span.name,
    kind: KINDS[span.kind] ?? 0,
    startTimeUnixNano: nanosOf(span.start_time),
    endTimeUnixNano: nanosOf(span.end_time),
    attributes: keyValues(span.attributes),
    events: span.events.map((event) => ({ timeUnixNano: nanosOf(event.time), name: event.name, attributes: keyValues(event.attributes) })),
    links: span.links.map((link) => ({
      traceId: link.trace_id,
      spanId: link.span_id,
      traceState: link.trace_state,
      attributes: keyValues(link.attributes),
    })),
    status: { code: STATUS[span.status.code] ?? 0, message: span.status.message },
  };
}

export function toOtlp(trace: Trace) {
  // Spans of one resource (by its attributes) and scope stay together,
  // in the order they first appear.
  const resources = new Map<string, { resource: Attributes; scopes: Map<string, { scope: Span['scope']; spans: Span[] }> }>();
  for (const span of trace.spans) {
    const resourceKey = JSON.stringify(Object.entries(span.resource ?? {}).sort(([a], [b]) => a.localeCompare(b)));
    let resource = resources.get(resourceKey);
    if (!resource) resources.set(resourceKey, (resource = { resource: span.resource ?? {}, scopes: new Map() }));
    const scopeKey = `${span.scope?.name ?? ''}\u0000${span.scope?.version ?? ''}`;
    let scope = resource.scopes.get(scopeKey);
    if (!scope) resource.scopes.set(scopeKey, (scope = { scope: span.scope ?? { name: '', version: '' }, spans: [] }));
    scope.spans.push(span);
  }
  return {
    resourceSpans: [...resources.values()].map(({ resource, scopes }) => ({
      resource: { attributes: keyValues(resource) },
      scopeSpans: [...scopes.values()].map(({ scope, spans }) => ({
        scope: { name: scope.name ?? '', version: scope.version ?? '' },
        spans: spans.map((span) => otlpSpan(trace.trace_id, span)),
      })),
    })),
  };
}
