// Package telemetry is the one place that owns herz's OpenTelemetry
// instruments: their names, units, attribute keys and attribute values. Every
// herz package records through a [Recorder] and never creates instruments of
// its own, so the metric vocabulary an SRE sees is defined here, once.
//
// The package uses only the OpenTelemetry metric API
// (go.opentelemetry.io/otel/metric); the SDK belongs to the application (and
// to this package's tests). By default [New] uses the global MeterProvider,
// which records nothing until the application installs one; the recording
// methods then return before building any attribute and never allocate.
//
// # Instruments
//
//	name                       kind                        unit          attributes
//	herz.dials                 counter                     {dial}        herz.peer, herz.result (ok|error)
//	herz.dial.duration         histogram                   s             herz.peer, herz.result
//	herz.dial.errors           counter                     {error}       herz.peer, herz.kind
//	herz.dial.verify_failures  counter                     {failure}     herz.peer, herz.reason
//	herz.probes                counter                     {probe}       herz.peer, herz.result
//	herz.evictions             counter                     {connection}  herz.peer, herz.reason
//	herz.retries               counter                     {retry}       herz.component, herz.peer, herz.reason
//	herz.retries.refused       counter                     {retry}       herz.component, herz.peer
//	herz.breaker.transitions   counter                     {transition}  herz.peer (the breaker key), herz.from, herz.to
//	herz.conns.open            observable up-down counter  {connection}  herz.peer
//	herz.conns.idle            observable up-down counter  {connection}  herz.peer
//	herz.breaker.state         observable gauge            {state}       herz.peer (the breaker key); 0 closed, 1 half-open, 2 open
//	herz.ejections             counter                     {ejection}    herz.peer (a gRPC backend), herz.reason (see BalancerRecorder)
//
// The connection counts are up-down counters, not gauges, because they add
// up: two pools to one peer report the sum, and a sum over peers is the
// process total (as OpenTelemetry's db.client.connection.count). A Prometheus
// exporter shows both kinds as gauges.
//
// # Secrets and cardinality
//
// herz.peer always goes through [Peer], which keeps host:port and drops
// userinfo, paths, queries and fragments, so a DSN password or a URL token
// never becomes an attribute. The other attribute values are short fixed
// vocabularies chosen by the recording package. The number of distinct peers
// is bounded by what the application dials; the SDK's cardinality limit
// (2000 attribute sets per instrument by default) bounds it further.
package telemetry
