// Package local runs the whole Streamer system in one process: an API Gateway WebSocket
// emulator (authorizer on $connect, $default routing, route responses, the 128 KB message
// limit, the 10-minute idle timeout, the 2-hour connection limit and the 29-second
// integration timeout), the @connections management API the runtime's connection
// manager calls through the real AWS SDK client, a DynamoDB stream poller that behaves
// like the Lambda event source mapping, an in-process Lambda invoker, a dev identity
// provider with its JWKS, a demo page, and counters of every AWS-equivalent call.
//
// The Lambda handler functions it runs are the same ones deployed to AWS; only the
// transport around them is local. The store is in memory by default, or DynamoDB (Local)
// with its real Streams API when Config.DynamoDBEndpoint is set.
package local
