package template

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// nameProps is the property that names a resource of each type when the template sets
// it, and the longest name the service accepts; without it CloudFormation generates
// "{stack}-{logical ID}-{random}" within that length.
var nameProps = map[string]struct {
	prop   string
	maxLen int
}{
	"AWS::DynamoDB::Table":        {"TableName", 255},
	"AWS::Lambda::Function":       {"FunctionName", 64},
	"AWS::IAM::Role":              {"RoleName", 64},
	"AWS::IAM::ManagedPolicy":     {"ManagedPolicyName", 128},
	"AWS::SQS::Queue":             {"QueueName", 80},
	"AWS::SecretsManager::Secret": {"Name", 256},
	"AWS::Logs::LogGroup":         {"LogGroupName", 512},
	"AWS::CloudWatch::Alarm":      {"AlarmName", 255},
	"AWS::SNS::Topic":             {"TopicName", 256},
	"AWS::Logs::MetricFilter":     {"FilterName", 512},
	"AWS::SSM::Parameter":         {"Name", 1011},
	"AWS::Events::Rule":           {"Name", 64},
}

// AssignNames gives every resource of the stack (every resource whose condition holds)
// the physical name and attributes CloudFormation would: the name its properties set, or
// a generated one, and the ARNs and URLs derived from it. Attributes known only once a
// resource exists (a table's StreamArn) are set later with SetAttr. random returns n
// random characters (nil: crypto/rand).
func AssignNames(t *Template, r *Resolver, random func(n int) string) error {
	if random == nil {
		random = randomUpper
	}
	env := r.env
	for _, res := range t.Sorted() {
		if !r.Exists(res) {
			continue
		}
		name, err := physicalName(res, r, random)
		if err != nil {
			return err
		}
		p := Physical{Ref: name, Attrs: map[string]any{}}
		lower := func(n int) string { return strings.ToLower(random(n)) }
		switch res.Type {
		case "AWS::DynamoDB::Table":
			p.Attrs["Arn"] = env.ARN("dynamodb", "table/"+name, false)
		case "AWS::Lambda::Function":
			p.Attrs["Arn"] = env.ARN("lambda", "function:"+name, false)
		case "AWS::IAM::Role":
			p.Attrs["Arn"] = env.ARN("iam", "role"+path(res)+name, true)
			p.Attrs["RoleId"] = "AROA" + random(17)
		case "AWS::IAM::ManagedPolicy":
			arn := env.ARN("iam", "policy"+path(res)+name, true)
			p.Ref = arn
			p.Attrs["PolicyArn"] = arn
		case "AWS::SQS::Queue":
			if fifo, _ := res.Properties["FifoQueue"].(bool); fifo && !strings.HasSuffix(name, ".fifo") {
				name += ".fifo"
			}
			url := "https://sqs." + env.Region + "." + env.URLSuffix + "/" + env.AccountID + "/" + name
			p.Ref = url
			p.Attrs["Arn"] = env.ARN("sqs", name, false)
			p.Attrs["QueueName"] = name
			p.Attrs["QueueUrl"] = url
		case "AWS::SecretsManager::Secret":
			arn := env.ARN("secretsmanager", "secret:"+name+"-"+random(6), false)
			p.Ref = arn
			p.Attrs["Id"] = arn
		case "AWS::ApiGatewayV2::Api":
			id := lower(10)
			p.Ref = id
			p.Attrs["ApiId"] = id
			scheme := "https://"
			if pt, _ := res.Properties["ProtocolType"].(string); pt == "WEBSOCKET" {
				scheme = "wss://"
			}
			p.Attrs["ApiEndpoint"] = scheme + id + ".execute-api." + env.Region + "." + env.URLSuffix
		case "AWS::ApiGatewayV2::Stage":
			if s, err := r.String(res.Properties["StageName"]); err == nil && s != "" {
				p.Ref = s
			}
		case "AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Authorizer",
			"AWS::ApiGatewayV2::RouteResponse", "AWS::ApiGatewayV2::IntegrationResponse", "AWS::ApiGatewayV2::Deployment":
			id := lower(7)
			p.Ref = id
			for _, attr := range []string{"RouteId", "IntegrationId", "AuthorizerId", "RouteResponseId", "IntegrationResponseId", "DeploymentId"} {
				p.Attrs[attr] = id
			}
		case "AWS::Logs::LogGroup":
			p.Attrs["Arn"] = env.ARN("logs", "log-group:"+name+":*", false)
		case "AWS::Lambda::EventSourceMapping":
			id := uuid(lower)
			p.Ref = id
			p.Attrs["Id"] = id
			p.Attrs["EventSourceMappingArn"] = env.ARN("lambda", "event-source-mapping:"+id, false)
		case "AWS::CloudWatch::Alarm":
			p.Attrs["Arn"] = env.ARN("cloudwatch", "alarm:"+name, false)
		case "AWS::SNS::Topic":
			arn := env.ARN("sns", name, false)
			p.Ref = arn
			p.Attrs["TopicArn"] = arn
			p.Attrs["TopicName"] = name
		case "AWS::Events::Rule":
			p.Attrs["Arn"] = env.ARN("events", "rule/"+name, false)
		case "AWS::KMS::Key":
			id := uuid(lower)
			p.Ref = id
			p.Attrs["KeyId"] = id
			p.Attrs["Arn"] = env.ARN("kms", "key/"+id, false)
		}
		r.Assign(res.LogicalID, p)
	}
	return nil
}

// physicalName returns the name a resource's properties give it, or a generated one.
func physicalName(res *Resource, r *Resolver, random func(int) string) (string, error) {
	np, named := nameProps[res.Type]
	if named {
		if v, ok := res.Properties[np.prop]; ok {
			name, err := r.String(v)
			if err != nil {
				return "", fmt.Errorf("%s (%s): %s: %w", res.LogicalID, res.Type, np.prop, err)
			}
			if name != "" {
				return name, nil
			}
		}
	}
	maxLen := 128
	if named {
		maxLen = np.maxLen
	}
	return generatedName(r.env.StackName, res.LogicalID, random(12), maxLen), nil
}

// generatedName is CloudFormation's "{stack}-{logical ID}-{suffix}", the stack name and
// logical ID shortened to fit maxLen.
func generatedName(stack, logicalID, suffix string, maxLen int) string {
	room := maxLen - len(suffix) - 2
	if len(stack)+len(logicalID) > room {
		half := room / 2
		stack = stack[:min(len(stack), max(half, room-len(logicalID)))]
		logicalID = logicalID[:min(len(logicalID), room-len(stack))]
	}
	return stack + "-" + logicalID + "-" + suffix
}

// path is an IAM resource's Path property, "/" by default.
func path(res *Resource) string {
	if p, ok := res.Properties["Path"].(string); ok && p != "" {
		return p
	}
	return "/"
}

// uuid returns a random UUID-shaped id.
func uuid(lower func(int) string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, n := range []int{8, 4, 4, 4, 12} {
		if i > 0 {
			b.WriteByte('-')
		}
		for _, c := range lower(n) {
			b.WriteByte(hex[int(c)%16])
		}
	}
	return b.String()
}

// randomUpper returns n random characters of [A-Z0-9].
func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
