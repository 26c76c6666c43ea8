package lambdas

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables the Lambda runtime sets for every function (the execution
// role's session credentials and the function's region).
const (
	envRegion        = "AWS_REGION"
	envDefaultRegion = "AWS_DEFAULT_REGION"
	envAccessKeyID   = "AWS_ACCESS_KEY_ID"
	envSecretKey     = "AWS_SECRET_ACCESS_KEY"
	envSessionToken  = "AWS_SESSION_TOKEN"
)

// errNoAWSEnvironment reports that the variables Lambda always sets are missing: the
// binary is not running on Lambda.
var errNoAWSEnvironment = errors.New("lambdas: not a Lambda environment")

// awsConfigFromEnv builds the AWS configuration from the variables Lambda sets: the
// region and the execution role's credentials. It replaces config.LoadDefaultConfig,
// whose shared-config, SSO, STS and IMDS providers never apply on Lambda and add
// megabytes to the bootstrap; the service clients fill in their own defaults (HTTP
// client, standard retryer) from a zero aws.Config.
func awsConfigFromEnv(getenv func(string) string) (aws.Config, error) {
	region := cmp.Or(getenv(envRegion), getenv(envDefaultRegion))
	key, secret := getenv(envAccessKeyID), getenv(envSecretKey)
	if region == "" || key == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("%w: %s, %s and %s must be set", errNoAWSEnvironment, envRegion, envAccessKeyID, envSecretKey)
	}
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, getenv(envSessionToken)),
	}, nil
}
