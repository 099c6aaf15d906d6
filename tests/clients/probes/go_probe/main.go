// Go SDK v2 probe: credentials through config.LoadDefaultConfig's chain only.
//
// Configuration comes from the environment, as a user's unchanged program
// would see it (AWS_CONTAINER_CREDENTIALS_FULL_URI + token, or
// AWS_EC2_METADATA_SERVICE_ENDPOINT). Prints one JSON line; never prints the
// secret key or the session token.
//
//	go_probe                 # credentials only
//	go_probe put KEY BODY    # then S3 PutObject (bucket from PROBE_BUCKET)
//	go_probe get KEY         # S3 GetObject, prints the body
//	go_probe list PREFIX     # S3 ListObjectsV2, prints the keys
//
// Built against Debian's golang-github-aws-aws-sdk-go-v2-dev (aws 1.17.1,
// config 1.17.10, s3 1.29.1) in GOPATH mode by scripts/setup-clients.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

type result map[string]interface{}

func out(r result, code int) {
	r["client"] = "go-v2"
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
	os.Exit(code)
}

// fail records the S3 error code and HTTP status the way boto3_probe.py does,
// so tests compare the same fields across clients.
func fail(r result, err error) {
	r["message"] = err.Error()
	var api smithy.APIError
	if errors.As(err, &api) {
		r["error"] = api.ErrorCode()
	} else {
		r["error"] = "SdkError"
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		r["status"] = resp.HTTPStatusCode()
	}
	out(r, 1)
}

func main() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		out(result{"error": "ConfigError", "message": err.Error()}, 1)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		out(result{"error": "NoCredentials", "message": err.Error()}, 1)
	}
	r := result{"access_key_id": creds.AccessKeyID, "source": creds.Source, "has_token": creds.SessionToken != ""}
	if creds.CanExpire {
		r["expiration"] = creds.Expires.UTC().Format("2006-01-02T15:04:05Z")
	}
	if len(os.Args) < 2 {
		out(r, 0)
	}

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		// This SDK version predates AWS_ENDPOINT_URL_S3 (config >= 1.25 reads
		// it); the probe reads the same variable and sets the S3 endpoint
		// only. Credentials still come from the default chain alone.
		if ep := os.Getenv("AWS_ENDPOINT_URL_S3"); ep != "" {
			o.EndpointResolver = s3.EndpointResolverFromURL(ep)
		}
	})
	bucket := aws.String(os.Getenv("PROBE_BUCKET"))
	switch os.Args[1] {
	case "put":
		_, err = client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: bucket, Key: aws.String(os.Args[2]), Body: strings.NewReader(os.Args[3]),
		})
	case "get":
		var got *s3.GetObjectOutput
		if got, err = client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(os.Args[2])}); err == nil {
			var body []byte
			body, err = io.ReadAll(got.Body)
			got.Body.Close()
			r["body"] = string(body)
		}
	case "list":
		var got *s3.ListObjectsV2Output
		if got, err = client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String(os.Args[2])}); err == nil {
			keys := []string{}
			for _, o := range got.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			r["keys"] = keys
		}
	default:
		out(result{"error": "Usage", "message": "unknown op " + os.Args[1]}, 2)
	}
	if err != nil {
		fail(r, err)
	}
	out(r, 0)
}
