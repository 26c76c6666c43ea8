// Package docs checks the Go snippets of the README and docs/: every ```go block is
// either a fragment (```go fragment) or a file of a complete package (```go complete
// DIR/FILE.go), and the complete ones build, pass go vet and, when they are tests, pass.
package docs
