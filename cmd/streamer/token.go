package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/streamer-go/streamer/runtime/auth"
	"github.com/streamer-go/streamer/runtime/local"
)

// fetchToken asks the local stack at baseURL for a dev token, saying what to check when
// nothing answers.
func fetchToken(ctx context.Context, baseURL, user, tenant string, ttl time.Duration) (*local.TokenResponse, error) {
	tok, err := local.DevToken(ctx, baseURL, user, tenant, ttl)
	if errors.Is(err, local.ErrUnreachable) {
		return nil, fmt.Errorf("is `streamer local` running? %w", err)
	}
	return tok, err
}

// runToken implements `streamer token`: a dev token from a local stack, or an HS256
// token signed with a deployed stack's HMAC secret (--secret-arn).
func runToken(ctx context.Context, e env, args []string) int {
	fs := newFlagSet(e, "token", "token [--url http://127.0.0.1:8080 | --secret-arn ARN [--issuer I] [--audience A] [--region R]] [--user U] [--tenant T] [--ttl 1h]")
	base := fs.String("url", "http://"+local.DefaultAddr, "the local stack's HTTP URL")
	secretARN := fs.String("secret-arn", "", "mint for a deployed stack with the HMAC secret it verifies tokens with (its HmacSecretArn output), read with your AWS credentials")
	issuer := fs.String("issuer", "", "with --secret-arn: the iss claim, when the stack checks one (the construct's Issuer)")
	audience := fs.String("audience", "", "with --secret-arn: the aud claim, when the stack checks one (the construct's Audience)")
	region := fs.String("region", "", "with --secret-arn: the secret's Region (default: the one in the ARN)")
	endpoint := fs.String("endpoint-url", "", "with --secret-arn: the Secrets Manager endpoint (default: the Region's)")
	user := fs.String("user", local.DefaultDevUser, "the token's user (sub)")
	tenant := fs.String("tenant", local.DefaultDevTenant, "the token's tenant_id")
	ttl := fs.Duration("ttl", local.DefaultDevTokenTTL, "lifetime; for a local stack a negative one gives an expired token (below -30s to be refused, past the verifier's leeway)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *user == "" || *tenant == "" {
		fs.Usage()
		return exitUsage
	}
	if *secretARN != "" {
		tok, err := mintWithSecret(ctx, *secretARN, *region, *endpoint, *issuer, *audience, *user, *tenant, *ttl)
		if err != nil {
			fmt.Fprintln(e.stderr, "streamer token:", err)
			return exitError
		}
		fmt.Fprintln(e.stdout, tok)
		return exitOK
	}
	if u, err := url.Parse(*base); err == nil && (u.Scheme == "wss" || u.Scheme == "https") {
		fmt.Fprintf(e.stderr, `streamer token: %s is a deployed stack; --url asks a local stack for a dev token. A deployed stack accepts:
  - tokens of your identity provider, when it verifies them with a JWKS (the construct's JwksUrl;
    the stack's JwksUrl output): request one from that provider, with a tenant_id claim;
  - tokens signed with its HMAC secret, when it has one (the construct's HmacSecret; the stack's
    HmacSecretArn output): %s token --secret-arn ARN --user U --tenant T
`, *base, e.prog)
		return exitUsage
	}
	tok, err := fetchToken(ctx, *base, *user, *tenant, *ttl)
	if err != nil {
		fmt.Fprintln(e.stderr, "streamer token:", err)
		return exitError
	}
	fmt.Fprintln(e.stdout, tok.Token)
	return exitOK
}

// mintWithSecret reads the HMAC secret at secretARN with the default AWS credentials
// (environment, shared config, SSO, ...) and signs a token with it.
func mintWithSecret(ctx context.Context, secretARN, region, endpoint, issuer, audience, user, tenant string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", errors.New("--ttl must be positive for a deployed stack")
	}
	if region == "" {
		if a, err := arn.Parse(secretARN); err == nil {
			region = a.Region
		}
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return "", fmt.Errorf("AWS configuration: %w", err)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	// The authorizer takes the key the same way: SecretString, or else SecretBinary.
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		return "", fmt.Errorf("reading the secret %s (your AWS credentials need secretsmanager:GetSecretValue on it): %w", secretARN, err)
	}
	key := out.SecretBinary
	if out.SecretString != nil {
		key = []byte(*out.SecretString)
	}
	signer, err := auth.NewHMACIssuer(key, issuer, audience)
	if err != nil {
		return "", err
	}
	return signer.Mint(user, tenant, ttl)
}
