package launch

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/local"
)

// envHandoff tells a program started by the watcher that it was: it holds the dev
// signing key (base64 of its SEC 1 DER form). The listening socket arrives as file
// descriptor handoffListenerFD and the lifeline, a pipe the watcher holds open for as
// long as it runs, as handoffLifelineFD.
const envHandoff = "STREAMER_LOCAL_HANDOFF"

// File descriptors of the handoff (exec.Cmd.ExtraFiles start at 3).
const (
	handoffListenerFD = 3
	handoffLifelineFD = 4
)

// handoff is what the watcher passes to the stack it starts.
type handoff struct {
	listener net.Listener
	issuer   *auth.DevIssuer
	lifeline *os.File
}

// encodeKey returns the envHandoff value carrying issuer's key.
func encodeKey(issuer *auth.DevIssuer) (string, error) {
	der, err := x509.MarshalECPrivateKey(issuer.PrivateKey())
	if err != nil {
		return "", fmt.Errorf("encode the dev key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// takeHandoff returns the handoff when the watcher started this process (ok), and an
// error when it did but the handoff is unusable.
func takeHandoff() (h *handoff, ok bool, err error) {
	v, ok := os.LookupEnv(envHandoff)
	if !ok {
		return nil, false, nil
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", envHandoff, err)
	}
	key, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", envHandoff, err)
	}
	issuer, err := auth.NewDevIssuerFromKey(key)
	if err != nil {
		return nil, true, err
	}
	socket := os.NewFile(handoffListenerFD, "listener")
	ln, err := net.FileListener(socket)
	_ = socket.Close() // FileListener holds its own duplicate
	if err != nil {
		return nil, true, fmt.Errorf("the watcher's socket (fd %d): %w", handoffListenerFD, err)
	}
	return &handoff{listener: ln, issuer: issuer, lifeline: os.NewFile(handoffLifelineFD, "lifeline")}, true, nil
}

// serveHandedOff runs the stack on the watcher's socket and key, without a banner (the
// watcher prints it), until ctx ends or the watcher goes away.
func serveHandedOff(ctx context.Context, cfg local.Config, h *handoff, opts Options) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Nothing is ever written: the read ends when the watcher exits, however it exits.
		_, _ = io.Copy(io.Discard, h.lifeline)
		cancel()
	}()
	cfg.Listener, cfg.Issuer = h.listener, h.issuer
	st, err := local.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(opts.Stderr, "%s local: %v\n", opts.Name, err)
		return ExitError
	}
	<-ctx.Done()
	return stop(ctx, st, opts)
}
