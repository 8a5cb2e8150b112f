package transport_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/herz-go/herz/transport"
)

// TestRefusedStreamIsToldByText: net/http's HTTP/2 stream error is
// unexported, so REFUSED_STREAM (RFC 9113 §8.7: the stream was not
// processed, safe to re-send even a POST) is told by its text, exactly as
// http2StreamError.Error writes it, wrapped or not; other codes are not.
func TestRefusedStreamIsToldByText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("stream error: stream ID 3; REFUSED_STREAM"), true},
		{errors.New("stream error: stream ID 5; REFUSED_STREAM; received from peer"), true},
		{fmt.Errorf("round trip: %w", errors.New("stream error: stream ID 7; REFUSED_STREAM")), true},
		{errors.New("stream error: stream ID 3; CANCEL"), false},
		{errors.New("stream error: stream ID 3; INTERNAL_ERROR; REFUSED_STREAM"), false},
		{errors.New("REFUSED_STREAM"), false},
		{nil, false},
	} {
		if got := transport.RefusedStream(tc.err); got != tc.want {
			t.Errorf("RefusedStream(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
