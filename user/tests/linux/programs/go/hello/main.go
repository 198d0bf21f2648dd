// hello: the smallest Go program, built static (CGO_ENABLED=0) with Debian's golang-go: the Go
// runtime's start-up (its address-space reservations, threads, signals) through the personality.
package main

import "fmt"

func main() {
	fmt.Println("hello, world")
}
