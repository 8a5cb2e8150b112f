package testenv

// Internals for the external tests.
var (
	RunPattern   = runPattern
	ProcessesIn  = processesIn
	NetnsOf      = netnsOf
	EnvNetns     = envNetns
	EnvNetnsHost = envNetnsHost
	PGAddr       = pgAddr
	MySQLAddr    = mysqlAddr
	OwnTCPPorts  = ownTCPPorts
)
