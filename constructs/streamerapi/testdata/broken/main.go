// Command broken does not compile: the construct tests check the build error.
package main

func main() { undefinedCall() }
