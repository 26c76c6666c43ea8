module github.com/streamer-go/streamer/test

go 1.26
