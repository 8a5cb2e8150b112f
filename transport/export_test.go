package transport

// ParseKeepAlive exposes parseKeepAlive to the external tests.
var ParseKeepAlive = parseKeepAlive
