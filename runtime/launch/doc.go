// Package launch is the main of a Streamer application: one binary that, deployed,
// serves every Lambda role and, run anywhere else, is a small command line whose
// `local` command runs the whole system here with the application's own actions.
//
// An application's main registers its actions and hands over:
//
//	func main() {
//		app := lambdas.New()
//		if err := handlers.Register(app); err != nil {
//			log.Fatal(err)
//		}
//		launch.Main(app)
//	}
//
// On Lambda (AWS_LAMBDA_RUNTIME_API is set) Main is lambdas.Start. Elsewhere `go run
// ./cmd/app local` runs the local stack (package local) with the flags of `streamer
// local`: --addr, --dynamodb-endpoint, --shards, --log-level, and --watch, which
// rebuilds and restarts the stack when a source file of the program changes, on the
// same port and with the same dev signing key, so open pages reconnect and tokens
// stay valid.
package launch
