package testenv

// Internals for the external tests.
var (
	PGAddr      = pgAddr
	MySQLAddr   = mysqlAddr
	OwnTCPPorts = ownTCPPorts
)
