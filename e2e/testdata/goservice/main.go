// Command goservice is the small web service the build tests compile.
package main

import (
	"fmt"
	"net/http"
	"os"
)

const version = "1.0.0"

func greeting() string { return "Hello from goservice " + version }

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, greeting()) })
	http.ListenAndServe(":"+port, nil)
}
