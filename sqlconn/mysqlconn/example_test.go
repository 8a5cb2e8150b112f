package mysqlconn_test

import (
	"context"
	"fmt"

	"github.com/herz-go/herz/sqlconn"
	"github.com/herz-go/herz/sqlconn/mysqlconn"
)

func ExampleOpen() {
	db, err := mysqlconn.Open("app@tcp(127.0.0.1:3306)/app", sqlconn.Config{})
	if err != nil {
		panic(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT 1").Scan(&n); err != nil {
		fmt.Println(err)
	}
}
