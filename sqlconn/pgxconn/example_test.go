package pgxconn_test

import (
	"context"
	"fmt"

	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/pgxconn"
)

func ExampleOpen() {
	db, err := pgxconn.Open("postgres://app@127.0.0.1:5432/app?sslmode=disable", sqlconn.Config{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n); err != nil {
		fmt.Println(err)
	}
}
