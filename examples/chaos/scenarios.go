package main

import (
	"fmt"
	"io"
)

// showScenarios runs the HTTP fault scenarios with the standard library and
// with herz. It needs package transport, which has not landed yet.
func showScenarios(w io.Writer) error {
	section(w, "4. HTTP under faults, stdlib vs herz")
	fmt.Fprintln(w, "   (the herz HTTP transport has not landed yet: this table arrives with package transport)")
	return nil
}
