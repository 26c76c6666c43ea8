// Package release tests that the repository's modules work as published modules: from
// a module proxy serving this tree's runtime, constructs and cmd modules at their next
// release version, fully offline, a user installs the CLI with `go install`, every module
// is tidy, and a CDK app outside the repository synthesises with the construct from a
// read-only module cache. See docs/RELEASING.md.
package release

// Version is the version of this tree's modules: the next release, which they require of
// each other (go.work maps it to this tree). scripts/set-version.sh changes it.
const Version = "v0.2.0"
