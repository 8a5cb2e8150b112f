package transport

// ParseKeepAlive exposes parseKeepAlive to the external tests.
var ParseKeepAlive = parseKeepAlive

// RefusedStream exposes refusedStream to the external tests.
var RefusedStream = refusedStream

// CopyTransport exposes copyTransport to the external tests.
var CopyTransport = copyTransport
