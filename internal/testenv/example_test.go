package testenv_test

import (
	"fmt"
	"time"

	"github.com/herz-go/herz/internal/testenv"
)

// Server-side idle timeouts travel in the DSN, so they apply to the pool's
// own sessions only, never to other users of the shared server.
func ExamplePGDSNWithIdleSessionTimeout() {
	pg, _ := testenv.PGDSNWithIdleSessionTimeout(testenv.DefaultPGDSN, 2*time.Second)
	my, _ := testenv.MySQLDSNWithWaitTimeout(testenv.DefaultMySQLDSN, 2*time.Second)
	fmt.Println(pg)
	fmt.Println(my)
	// Output:
	// postgres://postgres@127.0.0.1:5432/test?idle_session_timeout=2000&sslmode=disable
	// root@tcp(127.0.0.1:3306)/test?wait_timeout=2
}
