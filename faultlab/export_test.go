package faultlab

// Internals for the external tests.
var (
	RunPattern   = runPattern
	ProcessesIn  = processesIn
	NetnsOf      = netnsOf
	EnvNetns     = envNetns
	EnvNetnsHost = envNetnsHost
	Shorten      = shorten
)
