// Package pool is a pool of raw TCP connections for protocols herz has no
// adapter for — a cache, a queue, a line protocol — built on
// github.com/jackc/puddle/v2 and dialed by a herz [dialer.Dialer], so that
// its callers get the same verified, probed, health-scored connections as
// HTTP and SQL users.
//
//	p, err := pool.New(ctx, pool.Config{Addr: "127.0.0.1:6379", Heartbeat: redisPing})
//	c, err := p.Acquire(ctx) // a live conn
//	// ... write a request, read the reply ...
//	c.Release()              // or c.Destroy() when the protocol broke
//
// # Ownership
//
// puddle's acquire and release are the hand-out and return of connection
// ownership: a conn idle in the pool is Idle for the Dialer (its evictor, the
// learned idle deadline and the age rules apply); [Pool.Acquire] lends it to
// the caller, and while it is acquired herz never closes, probes or evicts it
// — a blocking SUBSCRIBE or a long BLPOP belongs to its caller. [Conn.Release]
// returns it, [Conn.Destroy] closes it, [Conn.Hijack] gives it away for good.
//
// # Hand-out
//
// Acquire checks an idle conn before handing it out: the pool's MaxLifetime
// (jittered per conn), then the Dialer's rules and a
// MSG_PEEK liveness probe (dialer.Conn.CheckIdle). A conn that fails is
// closed with its reason and the next one is taken, at most MaxConns+2
// times; a freshly dialed conn ends the search. So a conn the server closed
// while idle (Redis `timeout`, CLIENT KILL, a restart) is never handed out.
// A conn never handed out yet stays given away (the Dialer leaves it alone)
// and is probed for FIN and RST only: data waiting on it is the server's
// greeting (SMTP, FTP, POP3 and MySQL servers speak first), not a fault.
//
// A FIN found by a probe is the server's idle close: its idle age goes to the
// Dialer's learner (one sample per close event, so a mass close is not taken
// for a timeout), and once learned, idle conns are closed at the learned
// deadline, before the server closes them.
//
// # Background health
//
// One goroutine per pool runs every HealthCheckPeriod: it takes all idle
// conns (puddle's AcquireAllIdle, as pgxpool does), closes the dead, expired
// and over-idle ones with a reason, runs the optional protocol Heartbeat on
// the others, and keeps MinIdle conns warm through the Dialer, with a slow
// start after failures — one dial, then 2, 4, ... while they succeed — so a
// server coming back from an outage is not stampeded. Cancelling an Acquire
// never aborts a dial that others may need: the conn goes to the pool
// (puddle's semantics).
//
// # Outages
//
// A failed dial marks the server down. Until it accepts again, no caller
// and no refill dials: one goroutine owned by the pool makes a plain TCP
// connect every 10ms, backing off to 50ms, and an Acquire that needs a new
// conn waits for it within its own deadline (idle conns that pass the
// hand-out check are still handed out). The first connect that succeeds
// lets the waiters dial: the pool finds a restarted server within about
// 50ms, makes a handful of connects during the outage instead of one per
// Acquire, and never refuses a caller once the server accepts again. Close
// stops the prober.
//
// # Close
//
// [Pool.Close] waits for what the pool owns — the background goroutine, its
// dials, the idle conns — and never for a conn a caller holds; that one is
// closed at its release, which completes the shutdown.
//
// # Statistics and metrics
//
// [Pool.Stat] has puddle's counters plus herz's: dials and dial errors,
// checks and hand-out rejects, heartbeats, evictions by reason. With a
// MeterProvider the pool records OpenTelemetry's db.client.connection.*
// instruments — count (state idle|used), max, idle.min, create_time,
// wait_time, use_time, timeouts — with db.client.connection.pool.name
// (Config.Name, default Addr), server.address and server.port, plus
// herz.pool.evictions with herz.reason. The Dialer records its own herz.*
// instruments (dials, probes, evictions, breaker states).
package pool
