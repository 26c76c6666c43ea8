module github.com/streamer-go/streamer/cdk

go 1.26
