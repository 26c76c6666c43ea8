module github.com/streamer-go/streamer/test

go 1.26.0

require (
	github.com/gorilla/websocket v1.5.3
	github.com/streamer-go/streamer/runtime v0.2.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/mod v0.42.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

// This module is not published: it builds against the modules of this repository.
replace (
	github.com/streamer-go/streamer/constructs => ../constructs
	github.com/streamer-go/streamer/runtime => ../runtime
)
