package keepalive

// Jitter exposes jitter for tests.
var Jitter = jitter
