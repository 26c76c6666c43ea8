// Package demo holds the demo actions of Streamer: echo and health (synchronous),
// generate_report and process_data (asynchronous, with progress), and long_job, which
// checkpoints and so may run longer than one worker invocation. The Lambda bootstrap
// and the local stack (`streamer local`) both register them with Register, so the same
// handlers run on AWS and on one machine.
package demo
