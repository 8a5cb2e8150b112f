package pool

import (
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/herz-go/herz/dialer"
)

// PrivateDialerConfig exposes the Config of the Dialer a pool makes itself.
func PrivateDialerConfig(mp metric.MeterProvider) dialer.Config { return privateDialerConfig(mp) }

// LifetimeOf returns the jittered lifetime of an acquired conn (0: none).
func LifetimeOf(c *Conn) time.Duration {
	return c.res.Value().lifetime
}
