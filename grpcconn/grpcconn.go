package grpcconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/internal/retry"
	"github.com/herz-go/herz/internal/telemetry"
)

// Options is the set of dial options made for one [Config], with the state
// they share: the herz dialer, the per-target breakers and the retry budget.
// It is safe for concurrent use. Create it with [NewOptions]; pass
// [Options.DialOptions] to grpc.NewClient (for any number of ClientConns),
// and call [Options.Close] after the last ClientConn using them was closed.
type Options struct {
	s        settings
	d        *dialer.Dialer
	breakers *breaker.Registry // nil when disabled
	budget   *retry.Budget
	rec      *telemetry.Recorder
	h        *hooks
	unreg    func() error
	opts     []grpc.DialOption

	closeOnce sync.Once

	// bals maps a target to the weak.Pointer of the herz_outlier balancer
	// last seen serving it (see balancerOf).
	bals sync.Map

	retries [numReasons]atomic.Uint64
	refused atomic.Uint64
}

// NewOptions validates cfg and builds the dialer, breakers and budget the
// dial options share. An invalid field gives an error naming it.
func NewOptions(cfg Config) (*Options, error) {
	s, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	o := &Options{s: s}
	if o.budget, err = retry.NewBudget(s.Budget.budgetConfig()); err != nil {
		return nil, fieldError("Budget", err)
	}
	if o.rec, err = telemetry.New(s.MeterProvider); err != nil {
		return nil, fmt.Errorf("herz/grpcconn: telemetry: %w", err)
	}
	br, err := telemetry.NewBalancerRecorder(s.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("herz/grpcconn: telemetry: %w", err)
	}
	o.h = &hooks{rec: br}
	if !s.DisableBreaker {
		bc := s.Breaker
		user, rec := bc.OnStateChange, o.rec
		bc.OnStateChange = func(key string, from, to breaker.State) {
			rec.BreakerTransition(context.Background(), "grpcconn", key, from.String(), to.String())
			if user != nil {
				user(key, from, to)
			}
		}
		if o.breakers, err = breaker.New(bc); err != nil {
			return nil, fmt.Errorf("herz/grpcconn: Config.Breaker: %w", err)
		}
	}
	if o.d, err = dialer.New(s.Dialer); err != nil {
		return nil, fmt.Errorf("herz/grpcconn: Config.Dialer: %w", err)
	}
	if o.breakers != nil {
		reg := o.breakers
		o.unreg, err = o.rec.ObserveBreakers("grpcconn", func(observe func(key string, state int64)) {
			for k, st := range reg.States() {
				observe(k, int64(st))
			}
		})
		if err != nil {
			o.d.Close()
			return nil, fmt.Errorf("herz/grpcconn: telemetry: %w", err)
		}
	}
	o.opts = o.build()
	return o, nil
}

// DialOptions returns the grpc.DialOptions of cfg, for
//
//	conn, err := grpc.NewClient(target, append(grpcconn.DialOptions(grpcconn.Config{}), creds)...)
//
// It panics on an invalid Config (see [Config.Validate]). The herz dialer
// behind the options is never closed (its evictor stops by itself once the
// connections are closed); to release it and the metric callbacks, use
// [NewOptions] and [Options.Close], or [NewClient].
func DialOptions(cfg Config) []grpc.DialOption {
	o, err := NewOptions(cfg)
	if err != nil {
		panic(err)
	}
	return o.DialOptions()
}

// Validate reports whether cfg is valid, with an error naming the first
// invalid field.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// DialOptions returns the dial options: the herz dialer, keepalive, connect
// backoff, the interceptors and (unless Config.DisableBalancer) the default
// service config selecting [BalancerName]. Options given after them to
// grpc.NewClient override them (transport credentials must be added: herz
// sets none, and grpc-go requires one).
func (o *Options) DialOptions() []grpc.DialOption { return append([]grpc.DialOption(nil), o.opts...) }

// Dialer returns the herz dialer (for its Stats and PeerHealth).
func (o *Options) Dialer() *dialer.Dialer { return o.d }

// Close stops the dialer's evictor and the breaker's probes (if
// Config.Breaker.Probe is set) and unregisters the metric callbacks.
// Connections still open keep working. Close is idempotent.
func (o *Options) Close() error {
	var err error
	o.closeOnce.Do(func() {
		err = o.d.Close()
		if o.breakers != nil {
			_ = o.breakers.Close() // stops Config.Breaker.Probe's probes, if any; never fails
		}
		if o.unreg != nil {
			if uerr := o.unreg(); err == nil {
				err = uerr
			}
		}
	})
	return err
}

func (o *Options) build() []grpc.DialOption {
	s := &o.s
	kp := keepalive.ClientParameters{Time: s.Keepalive.Time, Timeout: s.Keepalive.Timeout, PermitWithoutStream: s.Keepalive.PermitWithoutStream}
	opts := []grpc.DialOption{
		grpc.WithContextDialer(o.dial),
		grpc.WithKeepaliveParams(kp),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  s.Backoff.BaseDelay,
				Multiplier: s.Backoff.Multiplier,
				Jitter:     s.Backoff.Jitter,
				MaxDelay:   s.Backoff.MaxDelay,
			},
			MinConnectTimeout: s.ConnectTimeout,
		}),
		grpc.WithChainUnaryInterceptor(o.unary),
		grpc.WithChainStreamInterceptor(o.stream),
	}
	if s.maxRetries > 0 {
		// One retry layer: grpc-go's configurable retry (a retryPolicy in a
		// service config, from the resolver too) is turned off while herz
		// retries. grpc-go's transparent retry of streams that never reached
		// a server stays on (grpc-go checks it before this option).
		opts = append(opts, grpc.WithDisableRetry())
	}
	if !s.DisableBalancer {
		js, err := json.Marshal(s.Outlier)
		if err != nil {
			panic(err) // plain numbers only: cannot fail
		}
		opts = append(opts, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+BalancerName+`":`+string(js)+`}]}`))
	}
	return opts
}

// dial connects through the herz dialer. A gRPC transport multiplexes its
// connection and reads it continuously: herz never closes or refuses it for
// its age or idleness; grpc-go's keepalive, TCP keepalive and the dialer's
// dead-path watchdog find a dead peer.
func (o *Options) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := o.d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dc, ok := c.(*dialer.Conn); ok {
		lendForLife(dc)
		o.h.conns.add(dc, addr)
	}
	return c, nil
}

// Client is a grpc.ClientConn made with herz's dial options; Close closes the
// connection and the options' dialer. It is safe for concurrent use.
type Client struct {
	*grpc.ClientConn
	o *Options
}

// NewClient is grpc.NewClient(target, DialOptions + opts...) with the options
// released by [Client.Close]. opts must carry the transport credentials
// (grpc.WithTransportCredentials), as for grpc.NewClient.
func NewClient(target string, cfg Config, opts ...grpc.DialOption) (*Client, error) {
	o, err := NewOptions(cfg)
	if err != nil {
		return nil, err
	}
	cc, err := grpc.NewClient(target, append(o.DialOptions(), opts...)...)
	if err != nil {
		o.Close()
		return nil, fmt.Errorf("herz/grpcconn: %w", err)
	}
	return &Client{ClientConn: cc, o: o}, nil
}

// Options returns the options the Client was made with.
func (c *Client) Options() *Options { return c.o }

// Close closes the ClientConn, then the dialer and metric callbacks.
func (c *Client) Close() error {
	err := c.ClientConn.Close()
	return errors.Join(err, c.o.Close())
}

// Stats is a snapshot of an [Options]' counters.
type Stats struct {
	// Retries counts retries by reason ("not_sent", "server_unavailable",
	// "stream_not_started", "idempotent").
	Retries map[string]uint64
	// RetriesRefused counts retries the budget refused.
	RetriesRefused uint64
	// Ejections counts backends ejected by the balancer.
	Ejections uint64
	// Drains counts connections drained at the end of their lifetime
	// (Config.Dialer.MaxLifetime).
	Drains uint64
	// TooManyPings counts calls that ended because a server closed their
	// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings": nonzero
	// means Config.Keepalive.ServerMinTime is below a server's
	// EnforcementPolicy.MinTime (grpc-go then doubles the ClientConn's ping
	// interval by itself).
	TooManyPings uint64
}

// Stats returns the Options' counters.
func (o *Options) Stats() Stats {
	st := Stats{Retries: map[string]uint64{}, RetriesRefused: o.refused.Load(), Ejections: o.h.ejects.Load(), Drains: o.h.drains.Load(), TooManyPings: o.h.tooManyPings.Load()}
	for r := range numReasons {
		if n := o.retries[r].Load(); n > 0 {
			st.Retries[r.String()] = n
		}
	}
	return st
}

// String formats s on one line.
func (s Stats) String() string {
	return fmt.Sprintf("retries %v, refused %d, ejections %d, drains %d, too_many_pings %d", s.Retries, s.RetriesRefused, s.Ejections, s.Drains, s.TooManyPings)
}
