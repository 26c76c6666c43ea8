module github.com/streamer-go/streamer/test

go 1.26

require (
	github.com/gorilla/websocket v1.5.3
	github.com/streamer-go/streamer/runtime v0.1.0
	github.com/stretchr/testify v1.12.1
)
