package auth

import (
	"crypto/rsa"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
const minRSABits = 2048

// asymmetricAlgorithms is the allow-list for JWKS and static public keys.
var asymmetricAlgorithms = map[jwa.SignatureAlgorithm]bool{
	jwa.RS256: true,
	jwa.ES256: true,
	jwa.EdDSA: true,
}

// algorithmFor returns the one allowed algorithm a public key can verify, or false when
// the key is of no allowed kind (symmetric, P-384, short RSA, X25519, ...). A key whose
// own alg field names another algorithm is refused too.
func algorithmFor(k jwk.Key) (jwa.SignatureAlgorithm, bool) {
	if use := k.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
		return "", false
	}
	var alg jwa.SignatureAlgorithm
	switch key := k.(type) {
	case jwk.RSAPublicKey:
		var raw rsa.PublicKey
		if err := key.Raw(&raw); err != nil || raw.N.BitLen() < minRSABits {
			return "", false
		}
		alg = jwa.RS256
	case jwk.ECDSAPublicKey:
		if key.Crv() != jwa.P256 {
			return "", false
		}
		alg = jwa.ES256
	case jwk.OKPPublicKey:
		if key.Crv() != jwa.Ed25519 {
			return "", false
		}
		alg = jwa.EdDSA
	default:
		return "", false
	}
	if declared := k.Algorithm().String(); declared != "" && declared != alg.String() {
		return "", false
	}
	return alg, true
}

// verificationKey is a public key together with the one algorithm it verifies.
type verificationKey struct {
	key jwk.Key
	alg jwa.SignatureAlgorithm
}

// publicVerificationKey reduces k to its public half and pairs it with its algorithm.
func publicVerificationKey(k jwk.Key) (verificationKey, bool) {
	if k.KeyType() == jwa.OctetSeq {
		return verificationKey{}, false
	}
	pub, err := jwk.PublicKeyOf(k)
	if err != nil {
		return verificationKey{}, false
	}
	alg, ok := algorithmFor(pub)
	if !ok {
		return verificationKey{}, false
	}
	return verificationKey{key: pub, alg: alg}, true
}

// parseStaticKey turns Config.PublicKey into a verification key.
func parseStaticKey(v any) (verificationKey, error) {
	var (
		k   jwk.Key
		err error
	)
	switch v := v.(type) {
	case jwk.Key:
		k = v
	case []byte:
		k, err = jwk.ParseKey(v, jwk.WithPEM(true))
	case string:
		k, err = jwk.ParseKey([]byte(v), jwk.WithPEM(true))
	default:
		k, err = jwk.FromRaw(v)
	}
	if err != nil {
		return verificationKey{}, fmt.Errorf("%w: PublicKey: %v", ErrInvalidConfig, err)
	}
	vk, ok := publicVerificationKey(k)
	if !ok {
		return verificationKey{}, fmt.Errorf("%w: PublicKey must be an RSA (>= %d bits), P-256 or Ed25519 signing key", ErrInvalidConfig, minRSABits)
	}
	return vk, nil
}
