// Command otel shows herz's metrics landing in Prometheus next to the
// application's own: the OpenTelemetry SDK with the Prometheus exporter,
// one MeterProvider for both, /metrics served on 127.0.0.1.
//
//	go run ./examples/otel                  (then: curl http://127.0.0.1:2112/metrics)
//	go run ./examples/otel -print           (print herz's series and exit)
//
// It starts a local backend, sends a few requests to it through a herz
// Transport (one of them hits a 503 and is retried) and counts them in an
// application counter, shop.orders.
package main
