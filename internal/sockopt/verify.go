package sockopt

// VerifyError reports a failed post-connect check. It wraps the errno found.
type VerifyError struct {
	// Check names the failed check: "so_error" or "getpeername".
	Check string
	// Err is the error the check found.
	Err error
}

// Error implements error.
func (e *VerifyError) Error() string {
	return "herz/sockopt: connect verification failed: " + e.Check + ": " + e.Err.Error()
}

// Unwrap returns the underlying errno.
func (e *VerifyError) Unwrap() error { return e.Err }
