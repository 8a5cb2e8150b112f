package adaptive

// Internals exposed to the tests.
var (
	ParseInt         = parseInt
	ParsePortRange   = parsePortRange
	RetransmitGiveUp = retransmitGiveUp
	SynGiveUp        = synGiveUp
)

// Kernel file names, for fixtures.
const (
	FileFinTimeout      = fileFinTimeout
	FileKeepaliveTime   = fileKeepaliveTime
	FileKeepaliveIntvl  = fileKeepaliveIntvl
	FileKeepaliveProbes = fileKeepaliveProbes
	FileRetries2        = fileRetries2
	FileSynRetries      = fileSynRetries
	FileConntrack       = fileConntrack
	FilePortRange       = filePortRange
)

// LowQuantile exposes lowQuantile for tests.
var LowQuantile = lowQuantile
