package transport

// ParseKeepAlive exposes parseKeepAlive to the external tests.
var ParseKeepAlive = parseKeepAlive

// RefusedStream exposes refusedStream to the external tests.
var RefusedStream = refusedStream
