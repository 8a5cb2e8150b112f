package sqlconn_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

func ExampleRedact() {
	fmt.Println(sqlconn.Redact("connect postgres://app:hunter2@db:5432/app failed"))
	fmt.Println(sqlconn.Redact("host=db user=app password='hunter 2' dbname=app"))
	fmt.Println(sqlconn.Redact("app:hunter2@tcp(db:3306)/app"))
	// Output:
	// connect postgres://app:xxxxx@db:5432/app failed
	// host=db user=app password=xxxxx dbname=app
	// app:xxxxx@tcp(db:3306)/app
}

// Wrap works with any driver.Connector; route the driver's dialing through
// sqlconn.DialContext so that herz can probe its sockets (the pgxconn,
// pqconn and mysqlconn sub-packages do this for you).
func ExampleWrap() {
	pc, err := pgx.ParseConfig("postgres://app@127.0.0.1:5432/app")
	if err != nil {
		panic(err)
	}
	pc.DialFunc = sqlconn.DialContext
	db := sqlconn.OpenDB(sqlconn.Wrap(stdlib.GetConnector(*pc), sqlconn.Config{Server: "127.0.0.1:5432"}))
	defer db.Close()

	_, err = db.ExecContext(context.Background(), "UPDATE accounts SET seen = now() WHERE id = $1", 42)
	if errors.Is(err, sqlconn.ErrUncertain) {
		// The connection died after the statement was sent: it may have run.
		// herz did not let database/sql send it again.
		fmt.Println("check before retrying:", err)
	}
}

// Code that asserts the driver's own connection type through sql.Conn.Raw
// unwraps herz's connection with sqlconn.Inner: one line, and it keeps
// working with the plain driver (Inner returns any other value as it is).
func ExampleInner() {
	db, err := pgxconn.Open("postgres://app@127.0.0.1:5432/app", sqlconn.Config{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = conn.Raw(func(driverConn any) error {
		pc := sqlconn.Inner(driverConn).(*stdlib.Conn) // was: driverConn.(*stdlib.Conn)
		fmt.Println("backend pid:", pc.Conn().PgConn().PID())
		return nil
	})
}
