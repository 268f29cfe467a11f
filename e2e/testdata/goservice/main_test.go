package main

import (
	"strings"
	"testing"
)

func TestGreetingNamesTheVersion(t *testing.T) {
	if !strings.Contains(greeting(), version) {
		t.Fatal(greeting())
	}
}
