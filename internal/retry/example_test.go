package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herz-go/herz/internal/retry"
)

// An adapter's retry loop: the Policy says when, the Budget says whether the
// client may afford one more retry, Sleep never outlives the caller's deadline.
func Example() {
	policy := retry.Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond} // validated once, shared
	budget, err := retry.NewBudget(retry.BudgetConfig{})                         // one per client
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()

	attempts := 0
	call := func() error { // fails twice, then succeeds
		attempts++
		if attempts < 3 {
			return errors.New("connection refused")
		}
		return nil
	}

	budget.Deposit()       // once per request
	bo := policy.Backoff() // once per request: nothing is allocated unless it retries
	err = call()
	for n := 1; err != nil && n <= policy.Retries() && budget.Withdraw(); n++ {
		if retry.Sleep(ctx, bo.Next()) != nil {
			break // deadline or cancel: report the last attempt's error
		}
		err = call()
	}
	fmt.Println("attempts:", attempts, "err:", err)
	fmt.Printf("%+v\n", budget.Stats())
	// Output:
	// attempts: 3 err: <nil>
	// {Requests:1 RetriesAllowed:2 RetriesRefused:0}
}

func ExampleParseRetryAfter() {
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"120", "Sun, 01 Mar 2026 12:00:30 GMT", "Sun, 01 Mar 2026 11:00:00 GMT", "3600", "soon"} {
		d, ok := retry.ParseRetryAfter(v, now, time.Minute)
		fmt.Printf("%-30q %v %v\n", v, d, ok)
	}
	// Output:
	// "120"                          1m0s true
	// "Sun, 01 Mar 2026 12:00:30 GMT" 30s true
	// "Sun, 01 Mar 2026 11:00:00 GMT" 0s true
	// "3600"                         1m0s true
	// "soon"                         0s false
}

func ExampleSleep() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// A 5s backoff cannot end before the deadline: Sleep returns at once.
	err := retry.Sleep(ctx, 5*time.Second)
	fmt.Println(errors.Is(err, retry.ErrDeadline), errors.Is(err, context.DeadlineExceeded))
	// Output: true true
}

func ExamplePolicy_Validate() {
	fmt.Println(retry.Policy{}.Validate())
	fmt.Println(retry.Policy{Jitter: 1.5}.Validate())
	fmt.Println(retry.Policy{MaxRetries: retry.NoRetries}.Retries())
	// Output:
	// <nil>
	// herz/retry: Policy.Jitter must be in [0,1], got 1.5
	// 0
}

func ExampleBudget() {
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.2, MinPerSecond: retry.NoFloor})
	if err != nil {
		panic(err)
	}
	for range 10 { // 10 requests, all failing
		budget.Deposit()
	}
	allowed := 0
	for range 10 { // each wants a retry
		if budget.Withdraw() {
			allowed++
		}
	}
	fmt.Println("retries allowed:", allowed)
	// Output: retries allowed: 2
}
