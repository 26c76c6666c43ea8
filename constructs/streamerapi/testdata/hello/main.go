// Command hello is the smallest Lambda bootstrap: the construct tests build it.
package main

func main() {}
