package breaker

import (
	"context"
	"fmt"
	"net"
)

// TCPProbe is a [Config.Probe] for keys that are TCP addresses (host:port):
// it connects to key and closes the connection at once. A connect that
// succeeds is the evidence that the peer accepts connections again.
func TCPProbe(ctx context.Context, key string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", key)
	if err != nil {
		return fmt.Errorf("herz/breaker: probe %s: %w", key, err)
	}
	return c.Close()
}
