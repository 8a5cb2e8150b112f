package breaker_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/herz-go/herz/breaker"
)

// Example shows the Allow / done protocol: three failed dials trip the
// breaker for the address, and the next call fails at once with an error
// naming it.
func Example() {
	reg, err := breaker.New(breaker.Config{
		ConsecutiveFailures: 3,
		OnStateChange: func(key string, from, to breaker.State) {
			fmt.Printf("%s: %v -> %v\n", key, from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	dial := func(addr string) error { return errors.New("connection refused") }

	const addr = "10.0.0.7:5432"
	for range 4 {
		done, err := reg.Allow(addr)
		if err != nil {
			var oe *breaker.OpenError
			errors.As(err, &oe)
			fmt.Println("rejected:", errors.Is(err, breaker.ErrOpen), oe.Key, oe.State)
			continue
		}
		done(dial(addr))
	}
	fmt.Println(reg.State(addr), reg.Len())
	// Output:
	// 10.0.0.7:5432: closed -> open
	// rejected: true 10.0.0.7:5432 open
	// open 1
}

// ExampleDefaultClassifier shows how results count.
func ExampleDefaultClassifier() {
	for _, err := range []error{
		nil,
		&breaker.StatusError{Code: 404},
		&breaker.StatusError{Code: 503},
		errors.New("connection reset by peer"),
		fmt.Errorf("request: %w", context.Canceled),
	} {
		fmt.Println(breaker.DefaultClassifier(err))
	}
	// Output:
	// success
	// success
	// failure
	// failure
	// ignore
}

// ExampleTCPProbe shows a Registry that finds a recovered address by
// itself: while a key is open, a connect to it every 50ms (backing off to
// 1s) closes the breaker as soon as the peer accepts again, instead of
// holding callers off for the whole open interval. Close stops the probes.
func ExampleTCPProbe() {
	reg, err := breaker.New(breaker.Config{Probe: breaker.TCPProbe})
	if err != nil {
		panic(err)
	}
	defer reg.Close()

	done, err := reg.Allow("127.0.0.1:6379")
	if err != nil {
		fmt.Println(err) // "herz/breaker: circuit open for 127.0.0.1:6379"
		return
	}
	done(nil)
	fmt.Println(reg.State("127.0.0.1:6379"))
	// Output:
	// closed
}
