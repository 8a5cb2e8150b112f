package transport_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/herz-go/herz/breaker"
	"github.com/herz-go/herz/dialer"
	"github.com/herz-go/herz/transport"
)

func TestNewRejectsInvalidConfigNamingTheField(t *testing.T) {
	cases := []struct {
		name  string
		cfg   transport.Config
		field string
	}{
		{"MaxIdleConnsPerHost", transport.Config{MaxIdleConnsPerHost: -1}, "Config.MaxIdleConnsPerHost"},
		{"MaxConnsPerHost", transport.Config{MaxConnsPerHost: -1}, "Config.MaxConnsPerHost"},
		{"ResponseHeaderTimeout", transport.Config{ResponseHeaderTimeout: -time.Second}, "Config.ResponseHeaderTimeout"},
		{"H2PingTimeout", transport.Config{H2PingTimeout: -time.Second}, "Config.H2PingTimeout"},
		{"AttemptTimeout", transport.Config{AttemptTimeout: -time.Second}, "Config.AttemptTimeout"},
		{"MaxRetryAfter", transport.Config{Retry: transport.RetryConfig{MaxRetryAfter: -1}}, "Config.Retry.MaxRetryAfter"},
		{"RetryJitter", transport.Config{Retry: transport.RetryConfig{Jitter: 1.5}}, "Config.Retry.Jitter"},
		{"RetryMaxRetries", transport.Config{Retry: transport.RetryConfig{MaxRetries: -2}}, "Config.Retry.MaxRetries"},
		{"RetryMaxBelowInitial", transport.Config{Retry: transport.RetryConfig{Initial: time.Second, Max: time.Millisecond}}, "Config.Retry.Max"},
		{"BudgetRatio", transport.Config{Budget: transport.BudgetConfig{Ratio: 2}}, "Config.Budget"},
		{"BudgetTTL", transport.Config{Budget: transport.BudgetConfig{TTL: time.Millisecond}}, "Config.Budget.TTL"},
		{"Breaker", transport.Config{Breaker: breaker.Config{FailureRatio: 2}}, "Config.Breaker"},
		{"Dialer", transport.Config{Dialer: dialer.Config{Timeout: -1}}, "Config.Dialer.Timeout"},
		{"DialerNaN", transport.Config{Dialer: dialer.Config{LifetimeJitter: math.NaN()}}, "Config.Dialer.LifetimeJitter"},
		{"RetryNaN", transport.Config{Retry: transport.RetryConfig{Multiplier: math.NaN()}}, "Config.Retry.Multiplier"},
		{"BudgetNaN", transport.Config{Budget: transport.BudgetConfig{Ratio: math.NaN()}}, "Config.Budget.Ratio"},
		{"H2CAndDisableHTTP2", transport.Config{H2C: true, DisableHTTP2: true}, "Config.H2C"},
		{"BreakerStatuses", transport.Config{BreakerStatuses: []int{503, 600}}, "Config.BreakerStatuses[1]"},
		{"MaxLifetimeTwice", transport.Config{MaxLifetime: time.Minute, Dialer: dialer.Config{MaxLifetime: time.Hour}}, "Config.MaxLifetime"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := transport.New(tc.cfg)
			if err == nil {
				tr.Close()
				t.Fatalf("New(%+v) = nil error, want one naming %s", tc.cfg, tc.field)
			}
			if !strings.HasPrefix(err.Error(), "herz/transport: ") || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New error = %q, want the herz/transport prefix and %q", err, tc.field)
			}
		})
	}
}

func TestNewAcceptsTheZeroConfigAndNegativeMeaningNone(t *testing.T) {
	for _, cfg := range []transport.Config{
		{},
		{TLSHandshakeTimeout: -1, IdleConnTimeout: -1, MaxIdleConns: -1, ExpectContinueTimeout: -1, H2ReadIdleTimeout: -1, H2WriteByteTimeout: -1, MaxLifetime: -1, RetryWindow: -1},
		{DisableHTTP2: true, DisableBreaker: true, Retry: transport.RetryConfig{MaxRetries: transport.NoRetries}},
		{H2C: true, Budget: transport.BudgetConfig{MinPerSecond: transport.NoFloor}},
		{MaxLifetime: time.Minute, Dialer: dialer.Config{MaxLifetime: time.Minute}},
	} {
		tr, err := transport.New(cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
}

func TestMustPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Must did not panic on an invalid Config")
		}
	}()
	transport.Must(transport.Config{MaxConnsPerHost: -1})
}
