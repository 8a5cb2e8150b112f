package transport

// ParseKeepAlive exposes parseKeepAlive to the external tests.
var ParseKeepAlive = parseKeepAlive

// RefusedStream exposes refusedStream to the external tests.
var RefusedStream = refusedStream

// CopyTransport exposes copyTransport to the external tests.
var CopyTransport = copyTransport

// TypeName and UnwrapPoolError expose the pool's reading of net/http's
// internal error types to the external tests that pin them.
var (
	TypeName        = typeName
	UnwrapPoolError = unwrapPoolError
)

// PoolHostKeys returns the number of host keys in t's HTTP/1.1 pool.
func PoolHostKeys(t *Transport) int {
	t.p1.mu.Lock()
	defer t.p1.mu.Unlock()
	return len(t.p1.hosts)
}
