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
